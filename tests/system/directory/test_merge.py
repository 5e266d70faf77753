"""The directory pass against a real Samba AD DC and a small embedded site.

Each test fills an OU of its own (the shared domain stays as it was) and
edits a few site records so that their DN, or NetBIOS name and domain, name
one of its computers.
"""

from __future__ import annotations

from typing import Any

import ldap3
import pytest
import sqlalchemy as sa

from bridge.cli.connector_commands import print_status
from bridge.directory.directory_pass import dc_instance_id
from bridge.runtime.status import status_report
from bridge.state.errors import StateError
from bridge.state.sources import SourceCursors
from onprem.directory import DirectoryCursor
from onprem.site_schema import v_R_System
from tests.support.directory_world import World, clock
from tests.support.samba_dc import DOMAIN_DN

pytest_plugins = ["tests.support.samba_dc", "tests.support.directory_world"]


EXPECTED = {
    "computers": 5,
    "matched": 2,
    "no_agent": 2,
    "disabled": 1,
    "disputed": 1,
    "discrepancies": 0,
}


def test_a_full_pass_stores_rows_matches_and_cursor_together(world: World) -> None:
    report = world.directory_pass().run()
    assert (report.kind, report.outcome) == ("full", "ok")
    assert world.state.directory.counts() == EXPECTED
    rows = world.rows()
    assert (rows["M1"].match, rows["M1"].matched_smsid) == ("dn", world.smsids[0])
    assert (rows["M2"].match, rows["M2"].matched_smsid) == ("name_domain", world.smsids[1])
    assert (rows["M3"].match, rows["M3"].matched_smsid) == ("disputed", None)
    assert (rows["M4"].match, rows["M5"].match) == ("none", "none")
    assert rows["M5"].disabled
    assert not rows["M4"].disabled
    assert rows["M1"].os == "Windows 11 Enterprise"
    stored = world.state.sources.get("directory")
    assert stored is not None
    assert stored.cursor is not None
    cursor = DirectoryCursor.from_json(stored.cursor)
    assert stored.instance_id == dc_instance_id(cursor)
    assert str(cursor.invocation_id) in stored.instance_id


def test_rows_and_cursor_are_one_transaction(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The cursor save fails last in the transaction: the rows written before it go too.
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise StateError("the state store refused the cursor")

    monkeypatch.setattr(SourceCursors, "save", refuse)
    report = world.directory_pass().run()
    assert report.outcome == "failed"
    assert "refused the cursor" in (report.error or "")
    assert world.state.directory.all() == []
    assert world.state.sources.get("directory") is None
    last = world.state.directory.last_pass()
    assert last is not None
    assert last.outcome == "failed"


def test_a_delta_applies_modify_add_and_a_delete_is_a_discrepancy(world: World) -> None:
    assert world.directory_pass().run().outcome == "ok"
    before = world.state.sources.get("directory")
    world.admin.modify(
        f"CN={world.prefix}M4,{world.ou}",
        {"operatingSystem": [(ldap3.MODIFY_REPLACE, ["Windows 10 Enterprise"])]},
    )
    world.edit_site(
        world.smsids[4],
        Netbios_Name0=f"{world.prefix}M6",
        Resource_Domain_OR_Workgr0="cobridge",
        Obsolete0=0,
        Decommissioned0=0,
    )
    world.add("M6")
    # M2 still reports to the site (live, active client): deleting it in AD is a discrepancy.
    world.admin.delete(f"CN={world.prefix}M2,{world.ou}")
    report = world.directory_pass().run()
    assert (report.kind, report.outcome) == ("delta", "ok")
    rows = world.rows()
    assert rows["M4"].os == "Windows 10 Enterprise"
    assert (rows["M6"].match, rows["M6"].matched_smsid) == ("name_domain", world.smsids[4])
    gone = rows["M2"]  # kept, flagged, still linked
    assert gone.deleted_at is not None
    assert gone.discrepancy
    assert gone.matched_smsid == world.smsids[1]
    # M1, M3, M4, M5, M6 live; M1 and M6 matched; M2 gone but still reporting.
    assert world.state.directory.counts() == EXPECTED | {"discrepancies": 1}
    after = world.state.sources.get("directory")
    assert after is not None
    assert before is not None
    assert after.cursor != before.cursor
    # The site record is untouched: the connector never deletes on the directory's word.
    with world.site.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(
                    v_R_System.c.SMS_Unique_Identifier0 == world.smsids[1]
                )
            ).scalar_one()
            == 1
        )


def test_a_wrong_base_dn_changes_nothing(world: World) -> None:
    missing = f"OU=Nowhere{world.prefix},{DOMAIN_DN}"
    first = world.directory_pass(missing).run()
    assert first.outcome == "failed"
    assert world.state.directory.all() == []
    assert world.state.sources.get("directory") is None
    assert world.directory_pass().run().outcome == "ok"
    rows, cursor = world.rows(), world.state.sources.get("directory")
    failed = world.directory_pass(missing).run()
    assert failed.outcome == "failed"
    assert world.rows() == rows
    assert world.state.sources.get("directory") == cursor
    assert all(r.deleted_at is None for r in rows.values())


def test_status_shows_the_directory_counts_and_discrepancies(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.directory_pass().run().outcome == "ok"
    world.admin.delete(f"CN={world.prefix}M1,{world.ou}")
    assert world.directory_pass().run().outcome == "ok"
    report = status_report(world.state, world.data_dir, now=clock(), interval_seconds=60)
    ad = report.directory
    assert ad is not None
    assert (ad.computers, ad.matched, ad.no_agent, ad.disabled, ad.disputed) == (4, 1, 2, 1, 1)
    assert ad.discrepancies == 1
    assert (ad.last_pass_kind, ad.last_pass_outcome) == ("delta", "ok")
    assert any("deleted from Active Directory" in n for n in report.notices)
    print_status(report)
    shown = capsys.readouterr().out
    assert "4 computer(s): 1 matched, 2 no agent, 1 disabled, 1 disputed" in shown
    assert "1 discrepancy(ies)" in shown


def test_a_dispute_is_quarantined_with_its_candidates_until_resolved(world: World) -> None:
    assert world.directory_pass().run().outcome == "ok"
    entries = world.state.quarantine.entries("directory")
    assert [e.reason for e in entries] == ["disputed"]
    assert entries[0].name == world.rows()["M3"].object_guid
    assert world.smsids[2] in entries[0].detail
    assert world.smsids[3] in entries[0].detail
    # The site retires one of the two: the other is the one candidate left.
    world.edit_site(world.smsids[3], Obsolete0=1)
    assert world.directory_pass().run().kind == "delta"
    m3 = world.rows()["M3"]
    assert (m3.match, m3.matched_smsid) == ("name_domain", world.smsids[2])
    assert world.state.quarantine.entries("directory") == []
