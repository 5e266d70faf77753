"""Device queries of the tenant service: the filtered list, its CSV export, the detail.

Every statement is scoped by tenant_id (DESIGN.md section 9) and skips
tombstoned devices. Lists are keyset-paged (see `cloud.store.keyset`): a deep
page costs an index seek like the first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.contract.devices import CollectionRef, DeviceDetail, DeviceEvent, DeviceQuery
from cloud.store.authority_reads import enabled_features
from cloud.store.device_view import (
    VIEW_COLUMNS,
    QueryError,
    aware_utc,
    csv_cells,
    device_out,
    naive_utc,
    select_fields,
    wire_row,
)
from cloud.store.directory import computer_of_device
from cloud.store.keyset import (
    SORT_COLUMNS,
    Collate,
    Position,
    SortKey,
    code_point_collation,
    decode_token,
    encode_token,
    page_statements,
    parse_orderby,
    position_of,
    query_scope,
)
from cloud.store.schema import collections, device_collections, device_events, devices

__all__ = [
    "CSV_PAGE_SIZE",
    "MAX_HISTORY",
    "DeviceListResult",
    "QueryError",
    "device_detail",
    "device_out",
    "list_devices",
    "stream_devices_csv",
]

CSV_PAGE_SIZE = 1000
MAX_HISTORY = 1000
_LIKE_ESCAPE = "\\"
_MAX_OS_BUILD = 2**31 - 1  # devices.os_build is a 32-bit integer
_SORT_COLUMN_NAMES = frozenset(column.name for column in SORT_COLUMNS.values())


@dataclass(frozen=True)
class DeviceListResult:
    """One page of the device list: wire items, the next page's token, the total if asked."""

    items: list[dict[str, object]]
    next_skiptoken: str | None
    count: int | None


@dataclass(frozen=True)
class _Plan:
    """A validated query: its conditions, sort, and the scope its tokens are bound to."""

    where: list[sa.ColumnElement[bool]]
    key: SortKey
    scope: str
    collate: Collate


async def list_devices(
    conn: AsyncConnection, tenant_id: str, query: DeviceQuery
) -> DeviceListResult:
    """One page of the tenant's devices that match `query`, in its order."""
    fields = select_fields(query.select)
    plan = _plan(tenant_id, query, conn.dialect.name)
    after = None
    if query.skiptoken is not None:
        after = decode_token(query.skiptoken, plan.scope, plan.key)
    rows, last = await _page(conn, plan, after, query.top)
    items = [wire_row(row, fields) for row in rows]
    count = await _count(conn, plan) if query.count else None
    token = encode_token(plan.scope, last) if last is not None else None
    return DeviceListResult(items=items, next_skiptoken=token, count=count)


async def count_devices(conn: AsyncConnection, tenant_id: str, query: DeviceQuery) -> int:
    """How many of the tenant's devices match `query`'s filters (paging and sort ignored)."""
    return await _count(conn, _plan(tenant_id, query, conn.dialect.name))


async def _count(conn: AsyncConnection, plan: _Plan) -> int:
    stmt = sa.select(sa.func.count()).select_from(devices).where(*plan.where)
    return int((await conn.execute(stmt)).scalar_one())


async def stream_devices_csv(
    engine: AsyncEngine, tenant_id: str, query: DeviceQuery
) -> AsyncIterator[str]:
    """Every device matching `query`'s filters and sort as CSV (RFC 4180), chunk by chunk.

    `$top`, `$skiptoken` and `$count` are ignored: the export is the whole
    result. The query is checked before the first chunk (the header), so a
    caller may await that chunk before it commits to a response. Each page of
    `CSV_PAGE_SIZE` rows is read on a connection that is returned to the pool
    before the page is yielded.
    """
    fields = select_fields(query.select)
    plan = _plan(tenant_id, query, engine.dialect.name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    yield _drain(buffer)
    after: Position | None = None
    while True:
        async with engine.connect() as conn:
            rows, after = await _page(conn, plan, after, CSV_PAGE_SIZE)
        writer.writerows(csv_cells(device_out(row), fields) for row in rows)
        if rows:
            yield _drain(buffer)
        if after is None:
            return


async def device_detail(
    conn: AsyncConnection, tenant_id: str, device_id: str, *, history: int = 100
) -> DeviceDetail | None:
    """The device with its collections and newest `history` events; None if not the tenant's."""
    if not 0 <= history <= MAX_HISTORY:
        raise QueryError("history", f"must be between 0 and {MAX_HISTORY}, not {history}")
    if "\x00" in device_id:
        return None  # no stored id holds one, and PostgreSQL refuses to compare it
    stmt = sa.select(*VIEW_COLUMNS).where(
        devices.c.tenant_id == tenant_id,
        devices.c.device_id == device_id,
        devices.c.deleted_at.is_(None),
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        return None
    # Names come from the device's own hierarchy; an MDM-only device has none to name them.
    hierarchy = row["hierarchy_id"]
    names = sa.join(
        device_collections,
        collections,
        sa.and_(
            collections.c.tenant_id == device_collections.c.tenant_id,
            collections.c.hierarchy_id == hierarchy if hierarchy is not None else sa.false(),
            collections.c.collection_id == device_collections.c.collection_id,
        ),
        isouter=True,
    )
    members = (
        sa.select(device_collections.c.collection_id, collections.c.name)
        .select_from(names)
        .where(
            device_collections.c.tenant_id == tenant_id,
            device_collections.c.device_id == device_id,
        )
        .order_by(device_collections.c.collection_id)
    )
    events = (
        sa.select(
            device_events.c.at,
            device_events.c.kind,
            device_events.c.sequence,
            device_events.c.batch_id,
        )
        .where(device_events.c.tenant_id == tenant_id, device_events.c.device_id == device_id)
        .order_by(device_events.c.at.desc(), device_events.c.sequence.desc().nulls_last())
        .limit(history)
    )
    refs = [
        CollectionRef(collection_id=cid, name=name) for cid, name in await conn.execute(members)
    ]
    log = (await conn.execute(events)).all() if history else []
    features = computer = None
    if hierarchy is not None and row["smsid"] is not None:
        features = await enabled_features(conn, tenant_id, hierarchy, row["smsid"])
        computer = await computer_of_device(conn, tenant_id, hierarchy, row["smsid"])
    return DeviceDetail(
        device=device_out(row),
        configuration_manager_client_enabled_features=features,
        active_directory=computer,
        collections=refs,
        history=[
            DeviceEvent(at=aware_utc(at), kind=kind, sequence=seq, batch_id=batch)
            for at, kind, seq, batch in log
        ],
    )


async def _page(
    conn: AsyncConnection, plan: _Plan, after: Position | None, size: int
) -> tuple[list[sa.RowMapping], Position | None]:
    """Up to `size` rows after `after`, and the position to continue from (None at the end)."""
    base = sa.select(*VIEW_COLUMNS).where(*plan.where)
    rows: list[sa.RowMapping] = []
    # One row more than asked says whether another page exists.
    for stmt in page_statements(base, plan.key, after, plan.collate):
        wanted = size + 1 - len(rows)
        if wanted <= 0:
            break
        rows.extend((await conn.execute(stmt.limit(wanted))).mappings().all())
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    return rows, position_of(plan.key, rows[-1])


def _plan(tenant_id: str, query: DeviceQuery, dialect_name: str) -> _Plan:
    """The conditions and sort of `query`, validated."""
    _check_values(query)
    key = parse_orderby(query.orderby)
    collate = code_point_collation(dialect_name)
    where: list[sa.ColumnElement[bool]] = [
        devices.c.tenant_id == tenant_id,
        devices.c.deleted_at.is_(None),
    ]
    filters: dict[str, object] = {}
    if query.name_starts_with is not None:
        prefix = query.name_starts_with.casefold()
        filters["nameStartsWith"] = prefix
        where.append(devices.c.name_key.like(_like_literal(prefix) + "%", escape=_LIKE_ESCAPE))
        # The same rows as a range, so that the name index bounds the scan.
        key_text = collate(devices.c.name_key)
        where.append(key_text >= prefix)
        upper = _prefix_upper_bound(prefix)
        if upper is not None:
            where.append(key_text < upper)
    if query.name_contains is not None:
        part = query.name_contains.casefold()
        filters["nameContains"] = part
        pattern = "%" + _like_literal(part) + "%"
        where.append(devices.c.name_key.like(pattern, escape=_LIKE_ESCAPE))
    equal: list[tuple[str, sa.Column, object]] = [
        ("operatingSystem", devices.c.os_family, query.operating_system),
        ("osBuild", devices.c.os_build, query.os_build),
        ("managedBy", devices.c.managed_by, query.managed_by and query.managed_by.value),
        ("hierarchyId", devices.c.hierarchy_id, query.hierarchy_id),
        ("siteCode", devices.c.site_code, query.site_code and query.site_code.upper()),
        ("clientHealth", devices.c.health_evaluation, query.client_health),
        ("clientActive", devices.c.client_active, query.client_active),
    ]
    for name, column, value in equal:
        if value is not None:
            filters[name] = value
            # Compared as sorted, so that an equality also fixes the sort index's prefix.
            target = collate(column) if column.name in _SORT_COLUMN_NAMES else column
            where.append(target == value)
    if query.collection_id is not None:
        collection_id = query.collection_id.upper()
        filters["collectionId"] = collection_id
        member = sa.select(sa.literal_column("1")).where(
            device_collections.c.tenant_id == tenant_id,
            device_collections.c.collection_id == collection_id,
            device_collections.c.device_id == devices.c.device_id,
        )
        where.append(member.exists())
    for name, moment in (
        ("lastActiveBefore", query.last_active_before),
        ("lastActiveAfter", query.last_active_after),
    ):
        if moment is not None:
            bound = _stored_time(name, moment)
            filters[name] = bound.isoformat()
            column = devices.c.last_active_at
            where.append(column < bound if name == "lastActiveBefore" else column >= bound)
    return _Plan(where, key, query_scope(tenant_id, filters, key), collate)


def _check_values(query: DeviceQuery) -> None:
    """Refuse what the contract lets through but a store cannot compare."""
    texts = {
        "nameStartsWith": query.name_starts_with,
        "nameContains": query.name_contains,
        "operatingSystem": query.operating_system,
        "hierarchyId": query.hierarchy_id,
    }
    for parameter, text in texts.items():
        if text is not None and "\x00" in text:
            raise QueryError(parameter, "contains a NUL character")
    if query.os_build is not None and query.os_build > _MAX_OS_BUILD:
        raise QueryError("osBuild", f"must be at most {_MAX_OS_BUILD}")


def _stored_time(parameter: str, moment: datetime) -> datetime:
    """`moment` as stored (naive UTC); a time without a zone is ambiguous and refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise QueryError(parameter, "the time has no zone", hint="add Z or an offset (+02:00)")
    return naive_utc(moment)


def _like_literal(text: str) -> str:
    """`text` with LIKE's wildcards and the escape character escaped."""
    for char in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, _LIKE_ESCAPE + char)
    return text


def _prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix`, by code point."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code == 0xD800:  # surrogates cannot be stored; skip them
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


def _drain(buffer: io.StringIO) -> str:
    """The text written to `buffer` since the last drain."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
