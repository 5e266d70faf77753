"""The site generator: deterministic, realistic, dirty on purpose, and honest about it.

Every count in a report is checked against the database with the queries and
rules of `tests.support.site_generator_checks`, independently of the generator. Runs
on every backend through `site_engine`.
"""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

import installer.demo.site_generator.seed as seed_module
import installer.demo.site_generator.site_io as site_io
from installer.demo.site_generator import SeedReport, SiteAlreadySeeded, seed_site
from onprem.site_schema import (
    cobridge_site_identity,
    v_ClientCoManagementState,
    v_Collection,
    v_FullCollectionMembership,
    v_GS_PC_BIOS,
    v_R_System,
    v_Site,
)
from tests.support.site_generator_checks import (
    AS_OF,
    KINDS,
    PLACEHOLDERS,
    by_id,
    collection_ids,
    dump,
    live,
    rows_of,
)


@pytest.fixture
def seeded(site_engine: sa.Engine) -> tuple[sa.Engine, SeedReport]:
    return site_engine, seed_site(site_engine, devices=5000, seed=7, as_of=AS_OF)


def test_same_inputs_give_identical_tables_whatever_the_chunking(
    site_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = seed_site(site_engine, devices=1200, seed=3, as_of=AS_OF)
    before = dump(site_engine)
    monkeypatch.setattr(seed_module, "CHUNK_DEVICES", 97)
    again = seed_site(site_engine, devices=1200, seed=3, as_of=AS_OF, replace=True)
    assert again == first
    assert dump(site_engine) == before
    other = seed_site(site_engine, devices=1200, seed=4, as_of=AS_OF, replace=True)
    after = dump(site_engine)
    assert other.hierarchy_id != first.hierarchy_id
    for table in ("v_R_System", "v_GS_PC_BIOS", "v_FullCollectionMembership"):
        assert after[table] != before[table], table


def test_fast_writes_store_what_core_inserts_store(
    site_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_site(site_engine, devices=2500, seed=6, as_of=AS_OF)
    fast = dump(site_engine)
    monkeypatch.setattr(site_io, "FAST_WRITES", False)
    seed_site(site_engine, devices=2500, seed=6, as_of=AS_OF, replace=True)
    assert dump(site_engine) == fast


def test_refuses_a_non_empty_site_unless_replacing(site_engine: sa.Engine) -> None:
    seed_site(site_engine, devices=300, seed=1, as_of=AS_OF)
    before = dump(site_engine)
    with pytest.raises(SiteAlreadySeeded, match="replace") as refused:
        seed_site(site_engine, devices=50, seed=2, as_of=AS_OF)
    assert "replace" in refused.value.message
    assert dump(site_engine) == before
    report = seed_site(site_engine, devices=50, seed=2, as_of=AS_OF, replace=True, site_code="XY9")
    assert report.devices == 50
    with site_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(v_R_System)).scalar() == 50
        assert conn.execute(sa.select(v_Site.c.SiteCode)).scalars().all() == ["XY9"]
        identity = conn.execute(sa.select(cobridge_site_identity)).one()
    assert (identity.id, identity.generator_seed, identity.created_at) == (1, 2, AS_OF)
    assert identity.hierarchy_id == report.hierarchy_id
    assert identity.instance_id == report.instance_id
    assert all(c.startswith(("SMS", "XY9")) for c in collection_ids(site_engine).values())


def test_progress_is_reported_after_each_chunk(
    site_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed_module, "CHUNK_DEVICES", 100)
    calls: list[int] = []
    seed_site(site_engine, devices=250, seed=1, as_of=AS_OF, progress=calls.append)
    assert calls == [100, 200, 250]


def test_report_counts_match_the_database(seeded: tuple[sa.Engine, SeedReport]) -> None:
    engine, report = seeded
    systems = by_id(engine, v_R_System)
    planted = {rid for rids in report.invalid.values() for rid in rids}
    valid = [r for rid, r in systems.items() if rid not in planted]
    bios = by_id(engine, v_GS_PC_BIOS)
    comgmt = by_id(engine, v_ClientCoManagementState)
    workstations = [
        r for r in valid if r["Operating_System_Name_and0"].endswith("Workstation 10.0")
    ]
    names = Counter(r["Name0"] for r in valid if live(r))

    assert report.devices == len(systems) == 5000
    assert report.with_agent == sum(1 for r in valid if r["Client0"] == 1)
    assert report.without_agent == sum(1 for r in valid if r["Client0"] in (0, None))
    assert report.with_agent + report.without_agent + len(planted) == report.devices
    assert report.servers == sum(1 for r in valid if "Server" in r["Operating_System_Name_and0"])
    assert report.windows11 == sum(1 for r in workstations if int(r["Build01"][5:]) >= 22000)
    assert report.windows10 == sum(1 for r in workstations if int(r["Build01"][5:]) < 22000)
    assert report.obsolete_twins == sum(1 for r in valid if r["Obsolete0"] == 1)
    assert report.decommissioned == sum(1 for r in valid if r["Decommissioned0"] == 1)
    assert report.duplicate_name_groups == sum(1 for n in names.values() if n > 1)
    assert report.empty_aad_device_id == sum(1 for r in valid if not r["AADDeviceID"])
    assert report.placeholder_serials == sum(
        1
        for r in valid
        if r["ResourceID"] in bios and bios[r["ResourceID"]]["SerialNumber0"] in PLACEHOLDERS
    )
    odd = [
        r
        for r in valid
        if (r["User_Name0"] and (not r["User_Name0"].isascii() or "'" in r["User_Name0"]))
        or "\\" in r["Distinguished_Name0"]
    ]
    assert report.odd_character_records == len(odd)
    assert report.co_managed == sum(
        1
        for r in valid
        if r["ResourceID"] in comgmt
        and comgmt[r["ResourceID"]]["MDMEnrolled"] == 1
        and comgmt[r["ResourceID"]]["ComgmtPolicyPresent"] == 1
    )
    assert report.collections == len(rows_of(engine, v_Collection))
    assert report.memberships == len(rows_of(engine, v_FullCollectionMembership))
    assert set(report.invalid) == KINDS


@pytest.mark.parametrize(("devices", "kinds"), [(200, set()), (2000, KINDS)])
def test_small_sites_still_hold_every_category(
    site_engine: sa.Engine, devices: int, kinds: set[str]
) -> None:
    report = seed_site(site_engine, devices=devices, seed=99, as_of=AS_OF)
    assert report.obsolete_twins >= 1
    assert report.duplicate_name_groups >= 1
    assert {kind for kind, ids in report.invalid.items() if ids} >= kinds
