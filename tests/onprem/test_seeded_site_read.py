"""A seeded, realistic site read end to end: every row accounted for, dirty cases recognised.

Runs on every backend through `site_engine`.
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from installer.demo.site_generator import seed_site, touch_site
from onprem.site_reader import SiteReader
from onprem.site_records import RejectedRecord, SiteDevice
from onprem.site_schema import v_R_System
from onprem.site_summary import summarize_site
from tests.conftest import AS_OF

# The reject reason the reader must give for each kind of defect the generator plants.
EXPECTED_REASON = {
    "malformed_smsid": ("invalid_guid", "SMS_Unique_Identifier0"),
    "malformed_aad_device_id": ("invalid_guid", "AADDeviceID"),
    "empty_name": ("empty_value", "Name0"),
    "control_character_in_name": ("control_character", "Name0"),
    "overlong_name": ("too_long", "Name0"),
    "impossible_date": ("impossible_date", "Creation_Date0"),
}
WRONG_TYPE = {"sqlite": "wrong_type", "postgresql": "out_of_range"}


def test_every_row_is_a_record_or_a_reject_with_the_planted_reason(site_engine: sa.Engine) -> None:
    report = seed_site(site_engine, devices=3000, seed=11, as_of=AS_OF)
    read = SiteReader(site_engine, chunk_size=700).read()
    items = list(read)
    with site_engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(v_R_System)).scalar_one()
    assert read.stats.complete
    assert rows == report.devices == read.stats.rows == len(items)
    assert read.stats.records + read.stats.rejected == rows
    ids = [i.resource_id for i in items]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)

    rejects = {r.resource_id: r for r in items if isinstance(r, RejectedRecord)}
    planted = {rid: kind for kind, rids in report.invalid.items() for rid in rids}
    assert set(rejects) == set(planted), "exactly the planted records are rejected"
    for rid, kind in planted.items():
        reject = rejects[rid]
        if kind == "wrong_type":
            assert (reject.reason, reject.column) == (
                WRONG_TYPE[site_engine.dialect.name],
                "Client0",
            )
        elif kind == "impossible_date":
            assert reject.reason == "impossible_date"
        else:
            assert (reject.reason, reject.column) == EXPECTED_REASON[kind], kind
    assert set(report.invalid) >= {*EXPECTED_REASON, "wrong_type"}


def test_dirty_but_valid_cases_are_recognised(site_engine: sa.Engine) -> None:
    report = seed_site(site_engine, devices=3000, seed=5, as_of=AS_OF)
    devices = [d for d in SiteReader(site_engine).read() if isinstance(d, SiteDevice)]
    live_names = Counter(d.name.casefold() for d in devices if d.live)
    obsolete = [d for d in devices if d.obsolete]
    assert len(obsolete) == report.obsolete_twins
    # A re-imaged machine leaves an obsolete record named like a live one.
    assert sum(1 for d in obsolete if live_names[d.name.casefold()]) == report.obsolete_twins
    assert (
        sum(1 for d in devices if d.serial_number and d.keys.serial_number is None)
        == report.placeholder_serials
    )
    no_aad = sum(1 for d in devices if d.aad_device_id is None)
    assert no_aad >= report.empty_aad_device_id
    co_managed = sum(1 for d in devices if d.comanagement is not None and d.comanagement.co_managed)
    assert co_managed == report.co_managed
    agents = [d for d in devices if d.client]
    assert all(d.health is not None for d in agents if d.live)
    assert all(d.health is None and d.comanagement is None for d in devices if not d.client)
    assert all("SMS00001" in d.collections for d in devices)
    # Hybrid-joined devices give every identity key.
    assert any(d.keys.aad_device_id and d.keys.serial_number and d.keys.fqdn for d in devices)


def test_summary_counts_the_seeded_site(site_engine: sa.Engine) -> None:
    report = seed_site(site_engine, devices=2000, seed=2, as_of=AS_OF)
    summary = summarize_site(SiteReader(site_engine))
    assert summary.site_code == report.site_code
    assert summary.hierarchy_id == report.hierarchy_id
    assert summary.rows == report.devices
    assert summary.rejected == sum(len(v) for v in report.invalid.values())
    assert summary.collections == report.collections
    assert summary.duplicate_live_names >= 2 * report.duplicate_name_groups
    assert summary.operating_systems["Windows 11"] > summary.operating_systems["Windows 10"] > 0
    assert summary.with_agent > 10 * summary.without_agent > 0


def test_touched_site_changes_exactly_the_touched_hashes(site_engine: sa.Engine) -> None:
    seed_site(site_engine, devices=1500, seed=4, as_of=AS_OF)
    before = {
        i.resource_id: getattr(i, "content_hash", None) for i in SiteReader(site_engine).read()
    }
    changes = touch_site(site_engine, devices=60, seed=8, as_of=AS_OF)
    after = {
        i.resource_id: getattr(i, "content_hash", None) for i in SiteReader(site_engine).read()
    }
    assert set(after) == (set(before) | set(changes.added)) - set(changes.deleted)
    changed = {rid for rid in before.keys() & after.keys() if before[rid] != after[rid]}
    assert changed == set(changes.modified)
