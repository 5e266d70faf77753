"""A seeded fleet of cloud-store device rows over several tenants, for device query tests.

The fleet is deterministic and deliberately awkward: NULLs in every nullable
sort column, ties in every sort column, names with LIKE wildcards, CSV
specials and non-ASCII letters, tombstones, one device id used by two
tenants, and rows of tenant B that point at tenant A's device ids. The
expected answers (order, wire items, CSV cells) are computed here from the
rows, independently of the code under test.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cloud.store.schema import collections, device_collections, device_events, devices

TENANT_A = "aaaaaaaa-0000-4000-8000-000000000001"
TENANT_B = "bbbbbbbb-0000-4000-8000-000000000002"
TENANT_C = "cccccccc-0000-4000-8000-000000000003"
NOW = datetime(2026, 11, 1, 8, 0, 0)
# Position, among tenant A's live devices, of the device the detail tests read.
DETAIL_INDEX = 20

# Hierarchy id -> site code; tenant B reuses tenant A's hierarchy id on purpose.
HIERARCHIES = {"hier-ps1": "PS1", "hier-cs2": "CS2"}
SPECIAL_NAMES = (
    '=HYPERLINK("http://x.example"),1',
    'Ünïcode, "quoted" PC',
    "Straße-07",
    "東京-PC-01",
    "50%_off",
    "50x_off",
    "50%Xoff",
    "back\\slash_1",
    "+SUM(A1)",
    "-cmd",
    "@import",
    "wks-dup",
    "WKS-DUP",
)


@dataclass
class Fleet:
    """Rows of every table the device queries read, kept for computing expectations."""

    devices: list[dict[str, Any]] = field(default_factory=list)
    memberships: list[dict[str, Any]] = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def live(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's devices that are not tombstoned."""
        return [d for d in self.devices if d["tenant_id"] == tenant_id and d["deleted_at"] is None]

    def device(self, tenant_id: str, device_id: str) -> dict[str, Any]:
        """One device row by key."""
        return next(
            d for d in self.devices if d["tenant_id"] == tenant_id and d["device_id"] == device_id
        )


def device_row(tenant_id: str, n: int, rng: random.Random, **overrides: Any) -> dict[str, Any]:
    """A complete `devices` row for device `n` of a tenant, with varied values."""
    managed_by = rng.choice(["ConfigMgr", "ConfigMgr", "Co-managed", "Intune"])
    attached = managed_by != "Intune"
    hierarchy = rng.choice(list(HIERARCHIES)) if attached else None
    name = f"WKS-{n:04d}"
    client = attached and rng.random() < 0.9
    row: dict[str, Any] = {
        "tenant_id": tenant_id,
        "device_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "hierarchy_id": hierarchy,
        "smsid": f"GUID:{rng.getrandbits(32):08X}-1111-4222-8333-{n:012d}" if attached else None,
        "site_code": HIERARCHIES[hierarchy] if hierarchy and rng.random() < 0.9 else None,
        "resource_id": 16777220 + n if attached else None,
        "name": name,
        "name_key": name.casefold(),
        "domain": rng.choice(["CONTOSO", "FABRIKAM", None]),
        "fqdn": f"{name.lower()}.corp.contoso.com",
        "os_family": rng.choice(["Windows", "Windows", "Windows Server", "macOS", None]),
        "os_caption": rng.choice(["Microsoft Windows 11 Enterprise", None]),
        "os_version": rng.choice(["10.0.22631", "10.0.19045", None]),
        "os_build": rng.choice([19045, 22631, 22631, 26100, None]),
        "manufacturer": rng.choice(["Contoso Ltd", "Fabrikam, Inc.", None]),
        "model": rng.choice(["Surface Laptop 5", "OptiPlex 7010", None]),
        "serial_number": f"SN{rng.getrandbits(40):010X}",
        "user_name": rng.choice(["jdoe", "CONTOSO\\asmith", None]),
        "aad_device_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < 0.7
        else None,
        "client": client,
        "client_version": "5.00.9128.1000" if client else None,
        "client_active": rng.choice([True, False, None]) if client else None,
        "health_evaluation": rng.choice(["pass", "pass", "fail", "unknown", None])
        if client
        else None,
        "comanagement_flags": rng.choice([1, 67, 255, 8193, None]) if attached else None,
        "site_mdm_enrolled": managed_by == "Co-managed" and rng.random() < 0.5,
        "mdm_enrolled_at": NOW - timedelta(days=rng.randrange(1, 300))
        if managed_by != "ConfigMgr" and rng.random() < 0.8
        else None,
        "managed_by": managed_by,
        # Whole hours make ties; the fractions check that stored microseconds survive.
        "last_active_at": NOW - timedelta(hours=rng.randrange(0, 60), microseconds=250)
        if rng.random() < 0.85
        else None,
        "last_policy_request_at": NOW - timedelta(minutes=rng.randrange(0, 5000))
        if client
        else None,
        "last_hw_at": NOW - timedelta(days=rng.randrange(0, 30)) if client else None,
        "first_seen_at": NOW - timedelta(days=rng.randrange(30, 900)),
        "updated_at": NOW - timedelta(hours=rng.randrange(0, 40)),
        "deleted_at": NOW - timedelta(days=1) if rng.random() < 0.05 else None,
    }
    row.update(overrides)
    return row


def make_fleet(seed: int = 20261101, *, tenant_a: int = 220) -> Fleet:
    """The fleet: `tenant_a` devices of tenant A, fewer of B and C, with their links."""
    rng = random.Random(seed)
    fleet = Fleet()
    sizes = {TENANT_A: tenant_a, TENANT_B: 60, TENANT_C: 20}
    for tenant_id, size in sizes.items():
        rows = [device_row(tenant_id, n, rng) for n in range(size)]
        if tenant_id == TENANT_A:
            for row, special in zip(rows, SPECIAL_NAMES, strict=False):
                row.update(name=special, name_key=special.casefold(), deleted_at=None)
        fleet.devices.extend(rows)
    a_rows = fleet.live(TENANT_A)
    b_rows = [d for d in fleet.devices if d["tenant_id"] == TENANT_B]
    # The detail device: attached to hier-ps1, and its id is reused by a device of tenant B.
    detail = a_rows[DETAIL_INDEX]
    detail.update(hierarchy_id="hier-ps1", site_code="PS1", managed_by="Co-managed")
    b_rows[0].update(device_id=detail["device_id"], name="B-SECRET-01", name_key="b-secret-01")
    for hierarchy, site in HIERARCHIES.items():
        for cid, name in (("SMS00001", "All Systems"), ("PS100014", f"Pilot {site}")):
            fleet.collections.append(_collection(TENANT_A, hierarchy, cid, name))
    fleet.collections.append(_collection(TENANT_B, "hier-ps1", "PS100014", "Tenant B pilot"))
    for i, row in enumerate(d for d in fleet.devices if d["tenant_id"] != TENANT_C):
        if row["hierarchy_id"] is None or row is detail:
            continue
        fleet.memberships.append(_member(row, "SMS00001"))
        if i % 3 == 0:
            fleet.memberships.append(_member(row, "PS100014"))
    # PS1000FF has no row in `collections`: its name is unknown.
    fleet.memberships.extend(_member(detail, cid) for cid in ("SMS00001", "PS100014", "PS1000FF"))
    # Tenant B's rows about tenant A's devices must never leak into A's answers.
    outsiders = [d for d in a_rows if d["hierarchy_id"] is not None and d is not detail][:3]
    fleet.memberships.extend(_member(d, "PS100077", tenant_id=TENANT_B) for d in outsiders)
    for row in fleet.devices:
        count = 6 if row is detail else rng.randrange(1, 4)
        for k in range(count):
            fleet.events.append(_event(row, NOW - timedelta(hours=k * 5 + rng.randrange(5)), k))
    return fleet


def insert_fleet(conn: sa.Connection, fleet: Fleet) -> None:
    """Write the fleet's rows into a migrated cloud store."""
    conn.execute(devices.insert(), fleet.devices)
    conn.execute(collections.insert(), fleet.collections)
    conn.execute(device_collections.insert(), fleet.memberships)
    conn.execute(device_events.insert(), fleet.events)


def _collection(tenant_id: str, hierarchy: str, cid: str, name: str) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "hierarchy_id": hierarchy,
        "collection_id": cid,
        "name": name,
        "collection_type": 2,
        "limit_to": None if cid.startswith("SMS") else "SMS00001",
    }


def _member(row: dict[str, Any], cid: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    tenant = tenant_id or row["tenant_id"]
    return {"tenant_id": tenant, "collection_id": cid, "device_id": row["device_id"]}


def _event(row: dict[str, Any], at: datetime, k: int) -> dict[str, Any]:
    return {
        "tenant_id": row["tenant_id"],
        "device_id": row["device_id"],
        "at": at,
        "kind": "created" if k == 0 else "updated",
        "sequence": 100 + k if k % 2 == 0 else None,
        "batch_id": None,
    }


# What the list and CSV should say, computed here independently of the code under test.
SORT_COLUMN = {
    "deviceName": "name_key",
    "lastActiveDateTime": "last_active_at",
    "osBuild": "os_build",
    "operatingSystem": "os_family",
    "managedBy": "managed_by",
    "siteCode": "site_code",
    "clientHealth": "health_evaluation",
    "coManagementFlags": "comanagement_flags",
    "lastSyncDateTime": "updated_at",
}
AGENTS = {
    "ConfigMgr": "configurationManagerClient",
    "Co-managed": "configurationManagerClientMdm",
    "Intune": "mdm",
}


def expected_order(rows: list[dict[str, Any]], field: str, descending: bool) -> list[str]:
    """Device ids in list order: (value, id) in the sort direction, NULL values last."""
    col = SORT_COLUMN[field]
    present = [r for r in rows if r[col] is not None]
    missing = [r for r in rows if r[col] is None]
    present.sort(key=lambda r: (r[col], r["device_id"]), reverse=descending)
    missing.sort(key=lambda r: r["device_id"], reverse=descending)
    return [r["device_id"] for r in present + missing]


def wire_time(value: datetime | None) -> str | None:
    """A stored naive UTC time as the API writes it."""
    return None if value is None else value.isoformat() + "Z"


def expected_item(r: dict[str, Any]) -> dict[str, Any]:
    """The full wire item of a stored device row."""
    return {
        "id": r["device_id"],
        "deviceName": r["name"],
        "managedBy": r["managed_by"],
        "managementAgent": AGENTS[r["managed_by"]],
        "hierarchyId": r["hierarchy_id"],
        "siteCode": r["site_code"],
        "smsid": r["smsid"],
        "resourceId": r["resource_id"],
        "azureADDeviceId": r["aad_device_id"],
        "serialNumber": r["serial_number"],
        "manufacturer": r["manufacturer"],
        "model": r["model"],
        "operatingSystem": r["os_family"],
        "osVersion": r["os_version"],
        "osBuild": r["os_build"],
        "osCaption": r["os_caption"],
        "domain": r["domain"],
        "fqdn": r["fqdn"],
        "userName": r["user_name"],
        "clientInstalled": r["client"],
        "clientVersion": r["client_version"],
        "clientActive": r["client_active"],
        "clientHealth": r["health_evaluation"],
        "coManagementFlags": r["comanagement_flags"],
        "enrolledInMdm": r["mdm_enrolled_at"] is not None or r["site_mdm_enrolled"],
        "lastActiveDateTime": wire_time(r["last_active_at"]),
        "lastPolicyRequestDateTime": wire_time(r["last_policy_request_at"]),
        "lastHardwareInventoryDateTime": wire_time(r["last_hw_at"]),
        "createdDateTime": wire_time(r["first_seen_at"]),
        "lastSyncDateTime": wire_time(r["updated_at"]),
    }


def expected_csv_cell(value: object) -> str:
    """A wire value as its CSV cell: empty for None, lowercase booleans, formulas quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
