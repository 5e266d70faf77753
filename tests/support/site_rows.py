"""Hand-built site rows for reader tests: one complete device, overridable per column."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from onprem.site_schema import (
    v_CH_ClientSummary,
    v_ClientCoManagementState,
    v_Collection,
    v_FullCollectionMembership,
    v_GS_COMPUTER_SYSTEM,
    v_GS_OPERATING_SYSTEM,
    v_GS_PC_BIOS,
    v_R_System,
)

BASE_ID = 16777220


def smsid(n: int) -> str:
    """A valid client GUID for device number `n`."""
    return f"GUID:{n:08X}-1111-4222-8333-444455556666"


def system_row(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid `v_R_System` row for device number `n`."""
    row = {
        "ResourceID": BASE_ID + n,
        "ResourceType": 5,
        "Name0": f"WKS{n:05d}",
        "Netbios_Name0": f"WKS{n:05d}",
        "SMS_Unique_Identifier0": smsid(n),
        "Resource_Domain_OR_Workgr0": "CONTOSO",
        "Operating_System_Name_and0": "Microsoft Windows NT Workstation 10.0",
        "Build01": "10.0.22631",
        "Client0": 1,
        "Client_Version0": "5.00.9128.1000",
        "Active0": 1,
        "Obsolete0": 0,
        "Decommissioned0": 0,
        "User_Name0": "jdoe",
        "Distinguished_Name0": f"CN=WKS{n:05d},OU=Workstations,DC=corp,DC=contoso,DC=com",
        "AD_Site_Name0": "London",
        "Is_Virtual_Machine0": 0,
        "Last_Logon_Timestamp0": datetime(2026, 10, 30, 7, 55),
        "Creation_Date0": datetime(2024, 3, 1, 12, 0),
        "AADDeviceID": f"{n:08x}-aaaa-4bbb-8ccc-dddddddddddd",
        "AADTenantID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    }
    row.update(overrides)
    return row


def insert_device(
    conn: sa.Connection,
    n: int,
    *,
    inventory: bool = True,
    collections: tuple[str, ...] = ("SMS00001",),
    **overrides: Any,
) -> int:
    """Insert device `n` with its inventory rows and memberships; return its ResourceID."""
    row = system_row(n, **overrides)
    rid = row["ResourceID"]
    conn.execute(v_R_System.insert(), row)
    if inventory:
        conn.execute(
            v_GS_OPERATING_SYSTEM.insert(),
            {
                "ResourceID": rid,
                "Caption0": "Microsoft Windows 11 Enterprise",
                "Version0": "10.0.22631",
                "InstallDate0": datetime(2024, 3, 1, 12, 30),
                "LastBootUpTime0": datetime(2026, 10, 28, 6, 0),
            },
        )
        conn.execute(
            v_GS_COMPUTER_SYSTEM.insert(),
            {
                "ResourceID": rid,
                "Manufacturer0": "Dell Inc.",
                "Model0": "Latitude 5440",
                "Domain0": "corp.contoso.com",
                "UserName0": "CONTOSO\\jdoe",
            },
        )
        conn.execute(v_GS_PC_BIOS.insert(), {"ResourceID": rid, "SerialNumber0": f"7XK{n:04d}"})
        conn.execute(
            v_CH_ClientSummary.insert(),
            {
                "ResourceID": rid,
                "ClientActiveStatus": 1,
                "LastActiveTime": datetime(2026, 10, 31, 22, 0),
                "LastPolicyRequest": datetime(2026, 10, 31, 21, 0),
                "LastDDR": datetime(2026, 10, 30, 3, 0),
                "LastHW": datetime(2026, 10, 29, 4, 0),
                "LastMPServerName": "PS1MP01.corp.contoso.com",
                "LastEvaluationHealthy": 1,
            },
        )
        conn.execute(
            v_ClientCoManagementState.insert(),
            {
                "ResourceID": rid,
                "MachineId": rid,
                "MDMEnrolled": 1,
                "ComgmtPolicyPresent": 1,
                "MDMProvisioned": 1,
                "HybridAADJoined": 1,
                "AADJoined": 0,
                "MDMWorkloads": 67,
                "EnrollmentStatusCode": 0,
                "EnrollmentErrorDetail": None,
            },
        )
    for cid in collections:
        conn.execute(
            v_FullCollectionMembership.insert(),
            {
                "CollectionID": cid,
                "ResourceID": rid,
                "Name": row["Name0"],
                "SiteCode": "PS1",
                "IsClient": 1,
            },
        )
    return rid


def insert_collections(conn: sa.Connection) -> None:
    """All Systems plus two custom collections limited by it."""
    conn.execute(
        v_Collection.insert(),
        [
            {
                "CollectionID": "SMS00001",
                "Name": "All Systems",
                "CollectionType": 2,
                "LimitToCollectionID": None,
            },
            {
                "CollectionID": "PS100010",
                "Name": "All Workstations",
                "CollectionType": 2,
                "LimitToCollectionID": "SMS00001",
            },
            {
                "CollectionID": "PS100014",
                "Name": "Co-management Pilot",
                "CollectionType": 2,
                "LimitToCollectionID": "PS100010",
            },
        ],
    )
