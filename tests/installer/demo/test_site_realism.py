"""A generated site looks real: proportions, shapes, dirty data, collections, co-management.

Judged with the rules of `tests.support.site_generator_checks`, written independently
of the generator. Runs on every backend through `site_engine`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from installer.demo.site_generator import SeedReport, seed_site
from onprem.site_schema import (
    v_CH_ClientSummary,
    v_ClientCoManagementState,
    v_Collection,
    v_FullCollectionMembership,
    v_GS_COMPUTER_SYSTEM,
    v_GS_OPERATING_SYSTEM,
    v_GS_PC_BIOS,
    v_R_System,
    v_Site,
)
from tests.support.site_generator_checks import (
    AS_OF,
    GUID,
    INVENTORY,
    KINDS,
    NAME_SHAPES,
    PLACEHOLDERS,
    SERIAL_SHAPES,
    SMSID,
    WORKLOAD_PILOTS,
    by_id,
    collection_ids,
    defects,
    live,
    memberships,
    rows_of,
)


@pytest.fixture
def seeded(site_engine: sa.Engine) -> tuple[sa.Engine, SeedReport]:
    return site_engine, seed_site(site_engine, devices=5000, seed=7, as_of=AS_OF)


def test_proportions_are_realistic(seeded: tuple[sa.Engine, SeedReport]) -> None:
    engine, report = seeded
    n = report.devices
    systems = by_id(engine, v_R_System)
    health = by_id(engine, v_CH_ClientSummary)
    computer = by_id(engine, v_GS_COMPUTER_SYSTEM)
    agents = [r for r in systems.values() if r["Client0"] == 1 and live(r)]
    joined = [r for r in agents if r["AADDeviceID"]]
    clients = report.windows10 + report.windows11

    assert 0.05 <= report.servers / n <= 0.09
    assert 0.88 <= report.with_agent / n <= 0.96
    assert 0.50 <= report.windows11 / clients <= 0.60
    assert 0.015 <= report.obsolete_twins / n <= 0.026
    assert 0.002 <= report.decommissioned / n <= 0.009
    assert 5 <= report.duplicate_name_groups <= 30
    assert 0.002 <= report.placeholder_serials / n <= 0.009
    assert 0.64 <= len(joined) / len(agents) <= 0.76
    empty = sum(1 for r in agents if r["AADDeviceID"] == "")
    assert 0.004 <= empty / len(agents) <= 0.02
    assert (
        0.86
        <= sum(health[r["ResourceID"]]["ClientActiveStatus"] for r in agents) / len(agents)
        <= 0.94
    )
    virtual = sum(1 for r in systems.values() if r["Is_Virtual_Machine0"] == 1)
    assert 0.06 <= virtual / n <= 0.10
    servers_virtual = [
        r["Is_Virtual_Machine0"]
        for r in systems.values()
        if "Server" in r["Operating_System_Name_and0"]
    ]
    assert sum(servers_virtual) / len(servers_virtual) > 0.6
    builds = Counter(
        r["Build01"]
        for r in systems.values()
        if r["Operating_System_Name_and0"].endswith("Workstation 10.0")
    )
    assert builds["10.0.26100"] > builds["10.0.22631"] > builds["10.0.22621"] > 0
    assert builds["10.0.19045"] > builds["10.0.19044"] > builds["10.0.17763"] > 0
    versions = Counter(r["Client_Version0"] for r in agents)
    assert set(versions) == {"5.00.9128.1000", "5.00.9122.1000", "5.00.9106.1000", "5.00.9096.1000"}
    makers = Counter(c["Manufacturer0"] for c in computer.values())
    assert {"Dell Inc.", "HP", "LENOVO", "Microsoft Corporation", "VMware, Inc."} <= set(makers)
    assert sum(len(v) for v in report.invalid.values()) <= 0.004 * n


def test_records_look_like_a_real_site(seeded: tuple[sa.Engine, SeedReport]) -> None:
    engine, report = seeded
    systems = by_id(engine, v_R_System)
    planted = {rid for rids in report.invalid.values() for rid in rids}
    assert sorted(systems) == list(range(16777220, 16777220 + report.devices))
    computer, bios = by_id(engine, v_GS_COMPUTER_SYSTEM), by_id(engine, v_GS_PC_BIOS)
    os_rows = by_id(engine, v_GS_OPERATING_SYSTEM)
    for rid, r in systems.items():
        assert r["ResourceType"] == 5
        assert r["Resource_Domain_OR_Workgr0"] == "CONTOSO"
        assert r["Distinguished_Name0"].endswith(",DC=corp,DC=contoso,DC=com")
        if rid in planted:
            continue
        assert r["Distinguished_Name0"].startswith(f"CN={r['Name0']},")
        assert NAME_SHAPES.match(r["Name0"]), r["Name0"]
        assert r["Netbios_Name0"] == r["Name0"][:15].upper()
        assert (
            "OU=Servers" in r["Distinguished_Name0"]
            or "OU=Domain Controllers" in r["Distinguished_Name0"]
        ) == ("Server" in r["Operating_System_Name_and0"])
        assert (r["AADTenantID"] is not None) == bool(r["AADDeviceID"])
        assert not r["AADDeviceID"] or GUID.match(r["AADDeviceID"])
        assert SMSID.match(r["SMS_Unique_Identifier0"])
        assert r["AD_Site_Name0"] in {"London", "NewYork", "Singapore", "Frankfurt"}
        if rid in computer:
            c = computer[rid]
            user = r["User_Name0"]
            assert c["UserName0"] == (f"CONTOSO\\{user}" if user else None)
            assert c["Domain0"] == "corp.contoso.com"
            virtual = c["Model0"] in ("VMware7,1", "Virtual Machine")
            assert r["Is_Virtual_Machine0"] == int(virtual)
            shape = SERIAL_SHAPES.get(c["Manufacturer0"])
            if shape is not None:
                assert shape.match(bios[rid]["SerialNumber0"]), bios[rid]["SerialNumber0"]
            caption = os_rows[rid]["Caption0"]
            assert os_rows[rid]["Version0"] == r["Build01"]
            assert ("Server" in caption) == ("Server" in r["Operating_System_Name_and0"])
            assert ("Windows 11" in caption) == (
                int(r["Build01"][5:]) >= 22000 and "Server" not in caption
            )
    dns = [r["Distinguished_Name0"] for r in systems.values()]
    assert any(len(dn) >= 400 for dn in dns)
    assert any("OU=R\\, D" in dn for dn in dns)
    users = [r["User_Name0"] for r in systems.values() if r["User_Name0"]]
    assert any(not u.isascii() for u in users)
    assert any("'" in u for u in users)
    assert any(u.isascii() and "." in u for u in users)
    names = [r["Name0"] for rid, r in systems.items() if rid not in planted]
    for prefix in ("DESKTOP-", "LAPTOP-", "WKS", "SRV-SQL-", "FIN-"):
        assert any(name.startswith(prefix) for name in names), prefix
    with engine.connect() as conn:
        site = conn.execute(sa.select(v_Site)).one()
    assert (site.SiteCode, site.Version, site.BuildNumber, site.Type) == (
        "PS1",
        "5.00.9128.1000",
        9128,
        2,
    )
    assert site.ServerName == "PS1SITE.corp.contoso.com"


def test_every_dirty_category_is_planted_and_only_invalid_records_break_rules(
    seeded: tuple[sa.Engine, SeedReport],
) -> None:
    engine, report = seeded
    systems = by_id(engine, v_R_System)
    bios = by_id(engine, v_GS_PC_BIOS)
    members = memberships(engine)
    planted = {rid: kind for kind, rids in report.invalid.items() for rid in rids}
    assert all(report.invalid[kind] for kind in KINDS), report.invalid
    for rid, row in systems.items():
        expected = {planted[rid]} if rid in planted else set()
        assert defects(row) == expected, (rid, row)
    control = "\x00" if engine.dialect.name == "sqlite" else "\x07"
    assert all(
        control in systems[rid]["Name0"] for rid in report.invalid["control_character_in_name"]
    )
    assert all(len(systems[rid]["Name0"]) >= 300 for rid in report.invalid["overlong_name"])
    assert all(
        systems[rid]["Creation_Date0"].year in (1700, 2999)
        for rid in report.invalid["impossible_date"]
    )
    wrong = "yes" if engine.dialect.name == "sqlite" else 7
    assert all(systems[rid]["Client0"] == wrong for rid in report.invalid["wrong_type"])

    live_by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in systems.values():
        if live(r) and r["ResourceID"] not in planted:
            live_by_name[r["Name0"]].append(r)
    twins = [r for r in systems.values() if r["Obsolete0"] == 1]
    assert twins
    same_serial = 0
    for twin in twins:
        assert twin["Active0"] == 0
        partners = live_by_name[twin["Name0"]]
        assert partners, f"obsolete {twin['Name0']} has no live namesake"
        assert all(p["SMS_Unique_Identifier0"] != twin["SMS_Unique_Identifier0"] for p in partners)
        assert any(p["Creation_Date0"] >= twin["Creation_Date0"] for p in partners)
        same_serial += any(
            bios[p["ResourceID"]]["SerialNumber0"] == bios[twin["ResourceID"]]["SerialNumber0"]
            for p in partners
            if p["ResourceID"] in bios
        )
        assert {c for c, ids in members.items() if twin["ResourceID"] in ids} == {"SMS00001"}
    assert same_serial >= 0.7 * len(twins)

    groups = [rs for rs in live_by_name.values() if len(rs) > 1]
    assert len(groups) == report.duplicate_name_groups > 0
    for group in groups:
        assert len({r["SMS_Unique_Identifier0"] for r in group}) == len(group)
        serials = [bios[r["ResourceID"]]["SerialNumber0"] for r in group if r["ResourceID"] in bios]
        assert len(set(serials)) == len(serials)

    decommissioned = [r for r in systems.values() if r["Decommissioned0"] == 1]
    assert decommissioned
    assert all(r["Active0"] == 0 for r in decommissioned)
    shared = Counter(
        b["SerialNumber0"] for b in bios.values() if b["SerialNumber0"] in PLACEHOLDERS
    )
    assert report.placeholder_serials > 0
    assert max(shared.values()) >= 2
    never = [r for r in systems.values() if r["Last_Logon_Timestamp0"] == datetime(1601, 1, 1)]
    assert never
    assert all(r["Client0"] in (0, None) for r in never)


def test_memberships_respect_limiting_collections(seeded: tuple[sa.Engine, SeedReport]) -> None:
    engine, _ = seeded
    collections = {c["CollectionID"]: c for c in rows_of(engine, v_Collection)}
    members = memberships(engine)
    systems = by_id(engine, v_R_System)
    for cid, c in collections.items():
        assert c["LastChangeTime"] is not None
        assert c["LastChangeTime"] <= AS_OF
        limit = c["LimitToCollectionID"]
        if cid == "SMS00001" or c["CollectionType"] == 1:
            assert limit is None
            continue
        assert limit in collections, f"{cid} is limited to a missing {limit}"
        assert members.get(cid, set()) <= members.get(limit, set()), cid
    assert set(members) <= set(collections)
    assert members["SMS00001"] == set(systems)
    assert {collections[c]["Name"] for c in ("SMS00002", "SMS00004", "SMSDM003", "SMS000US")} == {
        "All Users",
        "All Users and User Groups",
        "All Desktop and Server Clients",
        "All Unknown Computers",
    }
    custom = sorted(c for c in collections if c.startswith("PS1"))
    assert custom == [f"PS1{n:05X}" for n in range(0x10, 0x10 + len(custom))]
    ids = collection_ids(engine)
    workstation = ids["All Workstations"]
    for name in [
        *WORKLOAD_PILOTS,
        "Co-management Auto Enrollment",
        "Windows 11 Devices",
        "Finance Workstations",
    ]:
        assert collections[ids[name]]["LimitToCollectionID"] == workstation, name
    # The agent's own records, whatever a corrupted Client0 says.
    reporting = set(by_id(engine, v_CH_ClientSummary))
    clients = {rid for rid, r in systems.items() if rid in reporting and live(r)}
    assert members["SMSDM003"] == clients
    for pilot in WORKLOAD_PILOTS:
        share = len(members[ids[pilot]]) / len(members[workstation])
        assert 0.03 <= share <= 0.08, pilot
    assert (
        0.16
        <= len(members[ids["Co-management Auto Enrollment"]]) / len(members[workstation])
        <= 0.24
    )
    names = {
        (m["ResourceID"], m["Name"], m["SiteCode"])
        for m in rows_of(engine, v_FullCollectionMembership)
    }
    assert names == {(rid, systems[rid]["Name0"], "PS1") for rid, _, _ in names}


def test_devices_without_the_agent_have_no_inventory(seeded: tuple[sa.Engine, SeedReport]) -> None:
    engine, _ = seeded
    systems = by_id(engine, v_R_System)
    without = {rid for rid, r in systems.items() if r["Client0"] in (0, None)}
    with_agent = {rid for rid, r in systems.items() if r["Client0"] == 1}
    assert without
    assert with_agent
    for table in INVENTORY:
        present = set(by_id(engine, table))
        assert not present & without, table.name
        assert with_agent <= present, table.name
    active = [systems[rid]["Active0"] for rid in without]
    assert sum(1 for a in active if a == 0) > 0.8 * len(active)


def test_workload_flags_match_comanagement_state(seeded: tuple[sa.Engine, SeedReport]) -> None:
    engine, _ = seeded
    systems = by_id(engine, v_R_System)
    ids = collection_ids(engine)
    members = memberships(engine)
    pilot_bits: dict[int, int] = defaultdict(int)
    for name, bit in WORKLOAD_PILOTS.items():
        for rid in members[ids[name]]:
            pilot_bits[rid] |= bit
    seen = Counter()
    eligible = co_managed = 0
    for rid, state in by_id(engine, v_ClientCoManagementState).items():
        system = systems[rid]
        joined = bool(system["AADDeviceID"])
        assert state["HybridAADJoined"] == int(joined)
        assert state["MachineId"] == rid
        workstation = system["Operating_System_Name_and0"].endswith("Workstation 10.0")
        if workstation and joined and live(system):
            eligible += 1
        if state["MDMEnrolled"] == 1 and state["ComgmtPolicyPresent"] == 1:
            co_managed += 1
            assert workstation
            assert joined
            assert live(system)
            flags = state["MDMWorkloads"]
            expected = pilot_bits[rid]
            if expected & 8:
                expected |= 4 | 32
            assert flags & 1
            assert flags & 0xFE == expected, (rid, flags, pilot_bits[rid])
            assert flags & ~0x30FF == 0
            seen[flags & 0xFF] += 1
            seen["high"] += bool(flags & 0x3000)
        else:
            assert state["MDMWorkloads"] in (None, 1)
            if state["EnrollmentErrorDetail"]:
                assert state["EnrollmentStatusCode"] < 0
                assert (
                    "0x8018" in state["EnrollmentErrorDetail"]
                    or "MDM" in state["EnrollmentErrorDetail"]
                )
    assert 0.54 <= co_managed / eligible <= 0.66
    assert seen[1] > seen[3] > 0
    assert seen[255] > 0
    assert seen["high"] > 0
