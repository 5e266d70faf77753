"""Active Directory computers per hierarchy: store what the connector sends, list and count them.

Keyed by (tenant, hierarchy, objectGUID). A batch replaces each named
computer's record with the one sent; rows are never deleted by a batch (a
computer gone from AD arrives with `deleted_at` set). Rows whose content is
unchanged are left alone, so a connector re-sending a batch after a lost
answer changes nothing. Every statement is scoped by tenant and hierarchy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.directory import (
    MATCHED,
    DirectoryComputer,
    DirectoryComputerOut,
    DirectoryComputersOut,
    DirectoryCounts,
    DirectoryQuery,
)
from cloud.store.device_view import aware_utc, naive_utc
from cloud.store.dialect import insert_for
from cloud.store.schema import devices
from cloud.store.schema import directory_computers as computers

# Wire match names and the stored ones (the connector's own spelling).
_STORED_MATCH = {"dn": "dn", "nameDomain": "name_domain", "none": "none", "disputed": "disputed"}
_WIRE_MATCH = {v: k for k, v in _STORED_MATCH.items()}
_CONTENT = (
    "dn",
    "name",
    "sam_account_name",
    "dns_host_name",
    "os",
    "os_version",
    "last_logon",
    "enabled",
    "deleted_at",
    "match",
    "smsid",
    "discrepancy",
)


def _time(value: datetime | None) -> datetime | None:
    # A time without an offset is taken as UTC, as the wire's times are.
    return None if value is None else naive_utc(aware_utc(value) or value)


def _row(computer: DirectoryComputer) -> dict[str, Any]:
    return {
        "dn": computer.distinguished_name,
        "name": computer.name,
        "sam_account_name": computer.sam_account_name,
        "dns_host_name": computer.dns_host_name,
        "os": computer.operating_system,
        "os_version": computer.operating_system_version,
        "last_logon": _time(computer.last_logon),
        "enabled": computer.enabled,
        "deleted_at": _time(computer.deleted_at),
        "match": _STORED_MATCH[computer.match],
        "smsid": computer.smsid,
        "discrepancy": computer.discrepancy,
    }


def _of(tenant_id: str, hierarchy_id: str) -> list[sa.ColumnElement[bool]]:
    return [computers.c.tenant_id == tenant_id, computers.c.hierarchy_id == hierarchy_id]


async def save_computers(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    batch: Sequence[DirectoryComputer],
    now: datetime,
) -> int:
    """Store each computer's latest record; how many rows were new or changed."""
    sent = {c.object_guid: _row(c) for c in batch}
    held_stmt = sa.select(computers.c.object_guid, *(computers.c[k] for k in _CONTENT)).where(
        *_of(tenant_id, hierarchy_id), computers.c.object_guid.in_(list(sent))
    )
    held = {r[0]: dict(zip(_CONTENT, r[1:], strict=True)) for r in await conn.execute(held_stmt)}
    changed = [
        {"tenant_id": tenant_id, "hierarchy_id": hierarchy_id, "object_guid": guid}
        | row
        | {"received_at": now}
        for guid, row in sent.items()
        if held.get(guid) != row
    ]
    if not changed:
        return 0
    stmt = insert_for(conn, computers)
    update = {k: stmt.excluded[k] for k in (*_CONTENT, "received_at")}
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "hierarchy_id", "object_guid"], set_=update
        ),
        changed,
    )
    return len(changed)


def _state_filter(state: str) -> list[sa.ColumnElement[bool]]:
    c = computers.c
    present = c.deleted_at.is_(None)
    return {
        "all": [present],
        "noAgent": [present, c.match == "none"],
        "matched": [present, c.match.in_([_STORED_MATCH[m] for m in MATCHED])],
        "disputed": [present, c.match == "disputed"],
        "disabled": [present, c.enabled.is_(False)],
        "discrepancy": [c.discrepancy.is_(True)],
        "deleted": [c.deleted_at.is_not(None)],
    }[state]


def _search(text: str | None) -> list[sa.ColumnElement[bool]]:
    if not text:
        return []
    # Names and DNs are matched case-insensitively as a substring, LIKE wildcards escaped.
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return [
        sa.or_(
            sa.func.lower(computers.c.name).like(pattern, escape="\\"),
            sa.func.lower(computers.c.dns_host_name).like(pattern, escape="\\"),
            sa.func.lower(computers.c.dn).like(pattern, escape="\\"),
        )
    ]


async def count_computers(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> DirectoryCounts:
    """The hierarchy's computers by state (each count as the list's filter of that name)."""
    c = computers.c
    present = c.deleted_at.is_(None)
    stmt = sa.select(
        sa.func.count().filter(present),
        sa.func.count().filter(*_state_filter("matched")),
        sa.func.count().filter(*_state_filter("noAgent")),
        sa.func.count().filter(*_state_filter("disputed")),
        sa.func.count().filter(*_state_filter("disabled")),
        sa.func.count().filter(*_state_filter("discrepancy")),
        sa.func.count().filter(*_state_filter("deleted")),
    ).where(*_of(tenant_id, hierarchy_id))
    row = (await conn.execute(stmt)).one()
    keys = ("computers", "matched", "no_agent", "disputed", "disabled", "discrepancies", "deleted")
    return DirectoryCounts(**dict(zip(keys, (int(v) for v in row), strict=True)))


def _out(row: Mapping[str, Any]) -> DirectoryComputerOut:
    return DirectoryComputerOut(
        object_guid=row["object_guid"],
        distinguished_name=row["dn"],
        name=row["name"],
        sam_account_name=row["sam_account_name"],
        dns_host_name=row["dns_host_name"],
        operating_system=row["os"],
        operating_system_version=row["os_version"],
        last_logon=aware_utc(row["last_logon"]),
        enabled=row["enabled"],
        deleted_at=aware_utc(row["deleted_at"]),
        match=_WIRE_MATCH[row["match"]],  # type: ignore[arg-type]
        smsid=row["smsid"],
        discrepancy=row["discrepancy"],
        received_at=aware_utc(row["received_at"]),
        device_id=row["device_id"],
    )


def _with_device() -> sa.Select[Any]:
    # The linked device, when its site record is attached to this tenant (and not deleted).
    joined = sa.join(
        computers,
        devices,
        sa.and_(
            devices.c.tenant_id == computers.c.tenant_id,
            devices.c.hierarchy_id == computers.c.hierarchy_id,
            devices.c.smsid == computers.c.smsid,
            devices.c.deleted_at.is_(None),
        ),
        isouter=True,
    )
    return sa.select(computers, devices.c.device_id).select_from(joined)


async def read_page(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, query: DirectoryQuery
) -> DirectoryComputersOut:
    """One page of the hierarchy's computers (by name, then GUID), with the counts."""
    where = [*_of(tenant_id, hierarchy_id), *_state_filter(query.state), *_search(query.search)]
    stmt = (
        _with_device()
        .where(*where)
        .order_by(sa.func.lower(computers.c.name), computers.c.object_guid)
        .offset(query.skip)
        .limit(query.top)
    )
    rows = (await conn.execute(stmt)).mappings().all()
    matched = (
        await conn.execute(sa.select(sa.func.count()).select_from(computers).where(*where))
    ).scalar_one()
    newest = (
        await conn.execute(
            sa.select(sa.func.max(computers.c.received_at)).where(*_of(tenant_id, hierarchy_id))
        )
    ).scalar_one()
    return DirectoryComputersOut(
        value=[_out(r) for r in rows],
        counts=await count_computers(conn, tenant_id, hierarchy_id),
        matched=int(matched),
        received_at=aware_utc(newest),
    )


async def computer_of_device(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, smsid: str
) -> DirectoryComputerOut | None:
    """The AD computer linked to a site record (the one present in AD first), or None."""
    stmt = (
        _with_device()
        .where(*_of(tenant_id, hierarchy_id), computers.c.smsid == smsid)
        .order_by(computers.c.deleted_at.is_not(None), computers.c.object_guid)
        .limit(1)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else _out(row)


async def no_agent_count(conn: AsyncConnection, tenant_id: str) -> int:
    """Computers present in AD with no site record, over every hierarchy of the tenant."""
    stmt = sa.select(sa.func.count()).where(
        computers.c.tenant_id == tenant_id, *_state_filter("noAgent")
    )
    return int((await conn.execute(stmt)).scalar_one())
