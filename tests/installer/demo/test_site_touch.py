"""`touch_site`: a day of changes at a seeded site, consistent across every view.

Runs on every backend through `site_engine`.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from installer.demo.site_generator import seed_site, touch_site
from onprem.site_schema import v_Collection, v_R_System
from tests.support.site_generator_checks import (
    AS_OF,
    INVENTORY,
    by_id,
    defects,
    dump,
    live,
    memberships,
    rows_of,
)


def test_touch_changes_adds_and_deletes_consistently(site_engine: sa.Engine) -> None:
    report = seed_site(site_engine, devices=3000, seed=5, as_of=AS_OF)
    before = {t.name: by_id(site_engine, t) for t in (v_R_System, *INVENTORY)}
    highest = max(before["v_R_System"])
    later = AS_OF + timedelta(hours=6)
    touched = touch_site(site_engine, devices=300, seed=8, as_of=later)

    assert len(touched.modified) == 300
    assert len(touched.added) == 30
    assert len(touched.deleted) == 15
    sets = [set(touched.modified), set(touched.added), set(touched.deleted)]
    assert sum(len(s) for s in sets) == len(set().union(*sets))
    assert touched.added == list(range(highest + 1, highest + 31))
    planted = {rid for rids in report.invalid.values() for rid in rids}
    old_systems = before["v_R_System"]
    for rid in touched.modified + touched.deleted:
        assert rid not in planted
        assert live(old_systems[rid])

    after = {t.name: by_id(site_engine, t) for t in (v_R_System, *INVENTORY)}
    members = memberships(site_engine)
    for rid in touched.deleted:
        assert all(rid not in rows for rows in after.values())
        assert all(rid not in ids for ids in members.values())

    health_before, health_after = before["v_CH_ClientSummary"], after["v_CH_ClientSummary"]
    upgraded = users = enrolled = 0
    for rid in touched.modified:
        for column in ("LastActiveTime", "LastPolicyRequest", "LastHW"):
            assert health_after[rid][column] > health_before[rid][column]
        old, new = old_systems[rid], after["v_R_System"][rid]
        if new["Build01"] != old["Build01"]:
            upgraded += 1
            assert int(new["Build01"][5:]) > int(old["Build01"][5:])
            assert after["v_GS_OPERATING_SYSTEM"][rid]["Version0"] == new["Build01"]
        if new["User_Name0"] != old["User_Name0"]:
            users += 1
            assert (
                after["v_GS_COMPUTER_SYSTEM"][rid]["UserName0"] == f"CONTOSO\\{new['User_Name0']}"
            )
        old_state, new_state = (
            before["v_ClientCoManagementState"][rid],
            after["v_ClientCoManagementState"][rid],
        )
        if new_state != old_state:
            enrolled += 1
            assert (new_state["MDMEnrolled"], new_state["ComgmtPolicyPresent"]) == (1, 1)
            assert new_state["MDMWorkloads"] & 1
    assert upgraded > 10
    assert users > 30
    assert enrolled > 10
    untouched = set(old_systems) - set(touched.modified) - set(touched.deleted)
    for table, rows in before.items():
        for rid in untouched & set(rows):
            assert after[table][rid] == rows[rid], (table, rid)

    for rid in touched.added:
        system = after["v_R_System"][rid]
        assert defects(system) == set()
        assert live(system)
        assert rid in members["SMS00001"]
        assert system["Creation_Date0"] >= later - timedelta(days=3)
        if system["Client0"] == 1:
            assert all(rid in after[t.name] for t in INVENTORY)
            assert rid in members["SMSDM003"]
    names = Counter(after["v_R_System"][rid]["Name0"] for rid in touched.added)
    assert max(names.values()) == 1
    live_names = {r["Name0"] for rid, r in after["v_R_System"].items() if rid not in touched.added}
    assert not live_names & set(names)

    collections = {c["CollectionID"]: c for c in rows_of(site_engine, v_Collection)}
    for cid, ids in members.items():
        limit = collections[cid]["LimitToCollectionID"]
        if limit is not None:
            assert ids <= members[limit], cid


def test_touch_is_deterministic(site_engine: sa.Engine) -> None:
    seed_site(site_engine, devices=1000, seed=2, as_of=AS_OF)
    first = touch_site(site_engine, devices=80, seed=3, as_of=AS_OF)
    state = dump(site_engine)
    seed_site(site_engine, devices=1000, seed=2, as_of=AS_OF, replace=True)
    again = touch_site(site_engine, devices=80, seed=3, as_of=AS_OF)
    assert again == first
    assert dump(site_engine) == state
    seed_site(site_engine, devices=1000, seed=2, as_of=AS_OF, replace=True)
    other = touch_site(site_engine, devices=80, seed=4, as_of=AS_OF)
    assert other.modified != first.modified
