"""Checks on generated site databases, written independently of the generator.

The validity rules, dumps and lookups the site generator tests judge its
output with; nothing here imports the generator.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from onprem.site_schema import (
    site_metadata,
    v_CH_ClientSummary,
    v_ClientCoManagementState,
    v_Collection,
    v_FullCollectionMembership,
    v_GS_COMPUTER_SYSTEM,
    v_GS_OPERATING_SYSTEM,
    v_GS_PC_BIOS,
)

AS_OF = datetime(2026, 11, 1, 8, 0, 0)
INVENTORY = (
    v_GS_OPERATING_SYSTEM,
    v_GS_COMPUTER_SYSTEM,
    v_GS_PC_BIOS,
    v_CH_ClientSummary,
    v_ClientCoManagementState,
)
KINDS = {
    "malformed_smsid",
    "malformed_aad_device_id",
    "empty_name",
    "control_character_in_name",
    "overlong_name",
    "impossible_date",
    "wrong_type",
}
PLACEHOLDERS = {"To Be Filled By O.E.M.", "Default string", "System Serial Number"}
SMSID = re.compile(r"^GUID:[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NAME_SHAPES = re.compile(
    r"^(DESKTOP-[A-Z0-9]{7}|LAPTOP-[A-Z0-9]{8}|(FIN|HR|ENG|SAL|IT)-(LON|NYC|FRA|SIN)-\d{5}(-[A-Z]+)?"
    r"|WKS\d{6}|SRV-(SQL|FS|APP|WEB|DC|RDS|PRN|EXC)-\d{2,})$"
)
SERIAL_SHAPES = {
    "Dell Inc.": re.compile(r"^[0-9B-DF-HJ-NP-TV-Z]{7}$"),
    "HP": re.compile(r"^(5CG|5CD|CND|MXL|2UA)\d{4}[0-9A-Z]{3}$"),
    "HPE": re.compile(r"^CZJ\d{4}[0-9A-Z]{3}$"),
    "LENOVO": re.compile(r"^(PF|MJ)[0-9A-Z]{6}$"),
    "VMware, Inc.": re.compile(
        r"^VMware-([0-9a-f]{2} ){7}[0-9a-f]{2}-([0-9a-f]{2} ){7}[0-9a-f]{2}$"
    ),
}
WORKLOAD_PILOTS = {
    "Co-management Pilot - Compliance Policies": 2,
    "Co-management Pilot - Resource Access Policies": 4,
    "Co-management Pilot - Device Configuration": 8,
    "Co-management Pilot - Windows Update Policies": 16,
    "Co-management Pilot - Endpoint Protection": 32,
    "Co-management Pilot - Client Apps": 64,
    "Co-management Pilot - Office Click-to-Run Apps": 128,
}


def _key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, repr(value))


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every site table, sorted, with values and their types."""
    out = {}
    with engine.connect() as conn:
        for table in site_metadata.sorted_tables:
            rows = [tuple(_key(v) for v in row) for row in conn.execute(sa.select(table))]
            out[table.name] = sorted(rows)
    return out


def rows_of(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def by_id(engine: sa.Engine, table: sa.Table) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for row in rows_of(engine, table):
        assert row["ResourceID"] not in found, f"two {table.name} rows for {row['ResourceID']}"
        found[row["ResourceID"]] = row
    return found


def defects(row: dict[str, Any]) -> set[str]:
    """The rules a reader applies to a v_R_System row, written independently here."""
    found = set()
    if not isinstance(row["SMS_Unique_Identifier0"], str) or not SMSID.match(
        row["SMS_Unique_Identifier0"]
    ):
        found.add("malformed_smsid")
    aad = row["AADDeviceID"]
    if aad not in (None, ""):
        try:
            if str(uuid.UUID(aad)) != aad.lower():
                found.add("malformed_aad_device_id")
        except ValueError:
            found.add("malformed_aad_device_id")
    name = row["Name0"]
    if not name:
        found.add("empty_name")
    elif CONTROL.search(name):
        found.add("control_character_in_name")
    elif len(name) > 255:
        found.add("overlong_name")
    for column in ("Creation_Date0", "Last_Logon_Timestamp0"):
        moment = row[column]
        if moment is None or (column == "Last_Logon_Timestamp0" and moment == datetime(1601, 1, 1)):
            continue
        if not 1990 <= moment.year <= 2100:
            found.add("impossible_date")
    for column in ("Client0", "Active0", "Obsolete0", "Decommissioned0", "Is_Virtual_Machine0"):
        value = row[column]
        if value is not None and (type(value) is not int or value not in (0, 1)):
            found.add("wrong_type")
    return found


def live(row: dict[str, Any]) -> bool:
    return not row["Obsolete0"] and not row["Decommissioned0"]


def memberships(engine: sa.Engine) -> dict[str, set[int]]:
    members: dict[str, set[int]] = defaultdict(set)
    for m in rows_of(engine, v_FullCollectionMembership):
        members[m["CollectionID"]].add(m["ResourceID"])
    return members


def collection_ids(engine: sa.Engine) -> dict[str, str]:
    return {c["Name"]: c["CollectionID"] for c in rows_of(engine, v_Collection)}
