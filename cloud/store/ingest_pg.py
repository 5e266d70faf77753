"""PostgreSQL fast path of `apply_batch`: COPY into staging, then set-based statements.

It writes what `cloud.store.ingest.write_changes` writes (the same rows,
memberships, events and counts; tests/cloud/store/test_ingest_fast.py applies the
same batches through both and compares the stores), with a few statements per
batch instead of a few per device:

1. COPY the batch's device rows (the last of duplicate SMSIDs wins) into a
   temporary staging table, one per connection (see `_STAGE`).
2. INSERT ... SELECT from staging ... ON CONFLICT DO UPDATE ... WHERE false:
   inserts the devices new to the store (created) and locks every device
   that exists. A full sync is this one statement.
3. The same statement for the existing devices with the sequence guard as
   its WHERE: it updates those the batch is not stale for, and its RETURNING
   says how each of them was before (deleted, other content, other
   collections), read after step 2 locked them. So the counts, events and
   memberships follow what was actually written, even when another batch
   inserted or changed a device while this one waited for its lock.
4. Memberships: one DELETE for the devices whose collections changed, one
   COPY of the new pairs. Tombstones: one UPDATE. Events: one COPY.

Steps 2 and 3 find devices only through the unique index of the ON CONFLICT
target and the primary key, so missing or stale statistics (usual during a
first full sync) cannot turn a lookup into a scan of the hierarchy. Rows are
inserted and locked in SMSID order, so two batches touching the same devices
take their locks in one order instead of deadlocking.

Driver errors are raised as SQLAlchemy's wrappers (IntegrityError, DataError,
...), as the portable path raises them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.devices import ManagedBy
from cloud.contract.inventory import IngestBatch
from cloud.store.ingest_rows import (
    SITE_COLUMNS,
    Changes,
    aad_device_ids,
    device_row,
    store_collections,
)
from cloud.store.linking import link_mdm_devices
from cloud.store.schema import devices

_COMANAGEMENT = SITE_COLUMNS.index("comanagement")
_COLLECTIONS = SITE_COLUMNS.index("collections")

# The staging table's columns, typed like the devices columns so that COPY
# refuses what an INSERT into devices would refuse.
_STAGED = ("smsid", *SITE_COLUMNS)


def _staging_columns() -> str:
    pg = postgresql.dialect()
    quote = pg.identifier_preparer.quote
    return ", ".join(
        f"{quote(name)} {devices.c[name].type.compile(dialect=pg)}" for name in _STAGED
    )


# A temporary table lives as long as its session, so it is created once per
# connection (IF NOT EXISTS: again after a rollback of the transaction that
# created it, or a DISCARD ALL), not per batch: no catalog churn. ON COMMIT
# DELETE ROWS empties it at every commit (and a rollback discards its rows);
# it is also emptied before each use, for a caller applying several batches
# in one transaction. Its name carries a hash of its columns, so a session
# outliving a schema change never COPYs into the old shape.
_STAGE = sql.Identifier(
    "cobridge_ingest_stage_" + hashlib.sha256(_staging_columns().encode()).hexdigest()[:12]
)


def _columns(names: Sequence[str], table: str = "") -> sql.Composable:
    """A comma-separated column list, each name qualified by `table` if given."""
    if table:
        return sql.SQL(", ").join(sql.Identifier(table, n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


# One simple-protocol round trip (no parameters, so two statements may share it).
_PREPARE_STAGE = sql.SQL(
    "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({columns}) ON COMMIT DELETE ROWS;"
    " DELETE FROM {stage}"
).format(stage=_STAGE, columns=sql.SQL(_staging_columns()))

_COPY_STAGE = sql.SQL("COPY {stage} ({columns}) FROM STDIN").format(
    stage=_STAGE, columns=_columns(_STAGED)
)


def _upsert_from_stage(*, only_listed: bool, update_where: str, returning: str) -> sql.Composed:
    """INSERT ... SELECT from staging ON CONFLICT DO UPDATE ... WHERE `update_where`.

    The insert and the update write what ingest._upsert_statement writes; a new
    device gets a fresh uuid4 id, as there. With `only_listed`, only the staged
    SMSIDs in %(smsids)s. `returning` is evaluated for each row written.
    """
    return sql.SQL(
        "INSERT INTO devices AS d (tenant_id, hierarchy_id, device_id, site_code, sequence,"
        " batch_id, first_seen_at, updated_at, managed_by, {staged})"
        " SELECT %(tenant)s::text, %(hierarchy)s::text, gen_random_uuid()::text,"
        " (SELECT h.site_code FROM hierarchies h"
        " WHERE h.tenant_id = %(tenant)s::text AND h.hierarchy_id = %(hierarchy)s::text),"
        " %(sequence)s::bigint, %(batch)s::text, %(now)s::timestamp, %(now)s::timestamp,"
        " CASE WHEN s.site_mdm_enrolled THEN %(co_managed)s::text ELSE %(configmgr)s::text END,"
        " {staged_s}"
        " FROM {stage} s {only} ORDER BY s.smsid"
        " ON CONFLICT (tenant_id, hierarchy_id, smsid) DO UPDATE SET {site_owned},"
        " site_code = EXCLUDED.site_code, sequence = EXCLUDED.sequence,"
        " batch_id = EXCLUDED.batch_id, updated_at = EXCLUDED.updated_at, deleted_at = NULL,"
        # first_seen_at and mdm_enrolled_at keep their values.
        " managed_by = CASE WHEN d.mdm_enrolled_at IS NOT NULL OR EXCLUDED.site_mdm_enrolled"
        " THEN %(co_managed)s::text ELSE %(configmgr)s::text END"
        " WHERE {update_where}"
        " RETURNING {returning}"
    ).format(
        stage=_STAGE,
        staged=_columns(_STAGED),
        staged_s=_columns(_STAGED, "s"),
        only=sql.SQL("WHERE s.smsid = ANY(%(smsids)s::text[])" if only_listed else ""),
        site_owned=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in SITE_COLUMNS
        ),
        update_where=sql.SQL(update_where),
        returning=sql.SQL(returning),
    )


# Step 2. "WHERE false" updates nothing, yet "all rows will be locked when the
# ON CONFLICT DO UPDATE action is taken" (PostgreSQL's INSERT reference), so
# RETURNING names exactly the inserted rows and every other device is locked.
_INSERT_NEW = _upsert_from_stage(
    only_listed=False, update_where="false", returning="d.smsid, d.device_id"
)

# Step 3: update the existing devices unless the row is newer (the guard: the
# invariant stays in SQL), and return, for each row updated, how it differed
# before. A subquery in RETURNING runs with the statement's snapshot, taken
# after step 2 locked these rows, and a statement never sees its own changes:
# it reads each row as it was just before, by primary key (the only index
# with that key, so no statistics can pick a range scan instead).
_UPDATE_EXISTING = _upsert_from_stage(
    only_listed=True,
    update_where="d.sequence IS NULL OR d.sequence <= EXCLUDED.sequence",
    returning="d.smsid, d.device_id, ("
    " SELECT ARRAY[old.deleted_at IS NOT NULL,"
    " old.content_hash IS DISTINCT FROM d.content_hash,"
    # json has no equality; jsonb compares arrays element by element, in order,
    # as Python compares the lists of the portable path.
    " old.collections::jsonb IS DISTINCT FROM d.collections::jsonb]"
    " FROM devices old WHERE old.tenant_id = d.tenant_id AND old.device_id = d.device_id)",
)

# Tombstones are few (the delete guard holds large cycles), so this lookup by
# SMSID list, unlike steps 2 and 3, leaves its plan to the statistics.
_TOMBSTONE = sql.SQL(
    "UPDATE devices SET deleted_at = %(now)s::timestamp, updated_at = %(now)s::timestamp,"
    " sequence = %(sequence)s::bigint, batch_id = %(batch)s::text"
    " WHERE tenant_id = %(tenant)s::text AND hierarchy_id = %(hierarchy)s::text"
    " AND smsid = ANY(%(smsids)s::text[]) AND deleted_at IS NULL"
    " AND (sequence IS NULL OR sequence <= %(sequence)s::bigint)"
    " RETURNING device_id"
)

_DROP_MEMBERSHIPS = sql.SQL(
    "DELETE FROM device_collections"
    " WHERE tenant_id = %(tenant)s::text AND device_id = ANY(%(ids)s::text[])"
)
_COPY_MEMBERSHIPS = sql.SQL(
    "COPY device_collections (tenant_id, collection_id, device_id) FROM STDIN"
)
_COPY_EVENTS = sql.SQL(
    "COPY device_events (tenant_id, device_id, at, kind, sequence, batch_id) FROM STDIN"
)

# The AADDeviceIDs of the batch that name an MDM-only device: link_mdm_devices
# only acts on those, and most batches have none, so it gets only those (one
# ANY() query instead of its chunked IN lists of every id in the batch).
_MDM_ONLY = sql.SQL(
    "SELECT DISTINCT aad_device_id FROM devices"
    " WHERE tenant_id = %(tenant)s::text AND hierarchy_id IS NULL AND deleted_at IS NULL"
    " AND aad_device_id = ANY(%(ids)s::text[])"
)


def _dumps(value: Any) -> str:
    """JSON text as SQLAlchemy writes it for a JSON column: json.dumps, default separators.

    None too: SQLAlchemy's JSON type stores a Python None as the JSON value
    null (not SQL NULL), so a device without co-management has 'null' here.
    """
    return json.dumps(value)


def _staging_rows(batch: IngestBatch) -> tuple[list[tuple[Any, ...]], dict[str, list[str]]]:
    """The rows to COPY (in _STAGED order), and each record's collection ids by SMSID."""
    records = {r.smsid: r for r in batch.upserts}  # the last of duplicates wins
    rows, collection_ids = [], {}
    for smsid, record in records.items():
        values = list(device_row(record))
        collection_ids[smsid] = values[_COLLECTIONS]
        values[_COMANAGEMENT] = _dumps(values[_COMANAGEMENT])
        values[_COLLECTIONS] = _dumps(values[_COLLECTIONS])
        rows.append((smsid, *values))
    return rows, collection_ids


async def _copy(
    cur: psycopg.AsyncCursor[Any], statement: sql.Composable, rows: Iterable[Sequence[Any]]
) -> None:
    # write_row escapes for COPY's text format (backslash, tab, newline, CR),
    # so any text arrives as it was; NUL never gets here (the contract refuses it).
    async with cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


async def _upsert(
    cur: psycopg.AsyncCursor[Any], params: dict[str, Any], batch: IngestBatch
) -> tuple[int, int, list[tuple[str, str]]]:
    """Write the batch's upserts and memberships; (stale, unchanged, (device_id, kind) events)."""
    rows, collection_ids = _staging_rows(batch)
    if not rows:
        return 0, 0, []
    await cur.execute(_PREPARE_STAGE)
    await _copy(cur, _COPY_STAGE, rows)
    await cur.execute(_INSERT_NEW, params)
    inserted = await cur.fetchall()
    events = [(device_id, "created") for _, device_id in inserted]
    # (device_id, collection ids) to write; a new device has none to remove.
    members = [(device_id, collection_ids[smsid]) for smsid, device_id in inserted]
    replaced: list[str] = []  # existing devices whose memberships are replaced
    unchanged = updated = 0
    existing = collection_ids.keys() - {smsid for smsid, _ in inserted}
    if existing:
        await cur.execute(_UPDATE_EXISTING, {**params, "smsids": sorted(existing)})
        for smsid, device_id, before in await cur.fetchall():
            was_deleted, other_content, other_collections = before
            updated += 1
            if was_deleted:
                events.append((device_id, "created"))
            elif other_content:
                events.append((device_id, "updated"))
            else:
                unchanged += 1  # same content: only the sequence moves on
            # A tombstone removed the memberships but left the row's collections.
            if was_deleted or other_collections:
                replaced.append(device_id)
                members.append((device_id, collection_ids[smsid]))
    if replaced:
        await cur.execute(_DROP_MEMBERSHIPS, {**params, "ids": replaced})
    tenant_id = params["tenant"]
    pairs = [(tenant_id, cid, device_id) for device_id, cids in members for cid in cids]
    if pairs:
        await _copy(cur, _COPY_MEMBERSHIPS, pairs)
    # The guard skipped the others: a newer batch had written them.
    return len(rows) - len(inserted) - updated, unchanged, events


async def _tombstone(
    cur: psycopg.AsyncCursor[Any], params: dict[str, Any], batch: IngestBatch
) -> list[str]:
    """Mark the batch's live devices deleted unless newer, drop their memberships; their ids."""
    smsids = sorted({t.smsid for t in batch.tombstones})
    if not smsids:
        return []
    await cur.execute(_TOMBSTONE, {**params, "smsids": smsids})
    gone = [device_id for (device_id,) in await cur.fetchall()]
    if gone:
        await cur.execute(_DROP_MEMBERSHIPS, {**params, "ids": gone})
    return gone


async def _mdm_only(
    cur: psycopg.AsyncCursor[Any], params: dict[str, Any], batch: IngestBatch
) -> set[str]:
    ids = aad_device_ids(batch)
    if not ids:
        return set()
    await cur.execute(_MDM_ONLY, {**params, "ids": sorted(ids)})
    return {aad_id for (aad_id,) in await cur.fetchall()}


def _wrapped(exc: psycopg.Error) -> BaseException:
    """The SQLAlchemy exception (IntegrityError, DataError, ...) for a driver error."""
    return sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error)


async def write_changes_pg(
    conn: AsyncConnection, tenant_id: str, batch: IngestBatch, now: datetime
) -> Changes:
    """Write the batch's effects in the caller's transaction, as ingest.write_changes does."""
    params = {
        "tenant": tenant_id,
        "hierarchy": batch.hierarchy_id,
        "sequence": batch.sequence,
        "batch": str(batch.batch_id),
        "now": now,
        "co_managed": ManagedBy.CO_MANAGED.value,
        "configmgr": ManagedBy.CONFIGMGR.value,
    }
    # The psycopg connection under the SQLAlchemy one: same session, same transaction.
    driver = (await conn.get_raw_connection()).driver_connection
    try:
        async with driver.cursor() as cur:
            stale, unchanged, events = await _upsert(cur, params, batch)
            gone = await _tombstone(cur, params, batch)
            mdm_only = await _mdm_only(cur, params, batch)
    except psycopg.Error as exc:
        raise _wrapped(exc) from exc
    await store_collections(conn, tenant_id, batch)
    linked = await link_mdm_devices(conn, tenant_id, mdm_only, now)
    all_events = [*events, *((d, "deleted") for d in gone), *((d, "linked") for d in linked)]
    if all_events:
        sequence, batch_id = batch.sequence, str(batch.batch_id)
        try:
            async with driver.cursor() as cur:
                await _copy(
                    cur,
                    _COPY_EVENTS,
                    ((tenant_id, d, now, kind, sequence, batch_id) for d, kind in all_events),
                )
        except psycopg.Error as exc:
            raise _wrapped(exc) from exc
    return Changes(upserted=len(events), unchanged=unchanged, stale=stale, tombstoned=len(gone))
