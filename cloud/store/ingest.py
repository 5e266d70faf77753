"""Apply an inventory batch: idempotent, all-or-nothing, ordered by sequence.

Invariants, each also enforced in SQL so concurrent workers keep them:
- a batch id is applied once; a replay returns the first acknowledgement and
  changes nothing; the same id with other content is refused;
- a device row only moves forward: an upsert or tombstone with a lower
  sequence than the row's is skipped (several batches travel at once);
- everything a batch does happens in the caller's one transaction.

Two implementations write a batch's changes with the same semantics: the
portable statements here (SQLite, and any dialect) and, on PostgreSQL with
psycopg, `cloud.store.ingest_pg` (COPY into a staging table, set-based
statements). tests/cloud/store/test_ingest_fast.py applies the same batches through
both and compares the stores. The portable path classifies records from a read
taken before its writes: exact when writers are serialized (SQLite), but two
concurrent batches on PostgreSQL can leave it counting and replacing
memberships from a stale read; the PostgreSQL path reads what it locked.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.devices import ManagedBy
from cloud.contract.inventory import IngestAck, IngestBatch
from cloud.store.dialect import insert_for
from cloud.store.ingest_pg import write_changes_pg
from cloud.store.ingest_rows import (
    SITE_COLUMNS,
    Changes,
    aad_device_ids,
    device_row,
    managed_by,
    store_collections,
)
from cloud.store.linking import link_mdm_devices
from cloud.store.schema import (
    device_collections,
    device_events,
    devices,
    hierarchies,
    ingest_batches,
)
from workloads.errors import CobridgeError


class BatchConflict(CobridgeError):
    """A batch id arrived again with different content."""

    code = "batch_conflict"


# Writes a batch's upserts, tombstones, collections, links and events.
Writer = Callable[[AsyncConnection, str, IngestBatch, datetime], Awaitable[Changes]]


async def _replayed(
    conn: AsyncConnection, tenant_id: str, batch: IngestBatch, digest: str
) -> IngestAck | None:
    stmt = sa.select(ingest_batches.c.digest, ingest_batches.c.ack).where(
        ingest_batches.c.tenant_id == tenant_id,
        ingest_batches.c.hierarchy_id == batch.hierarchy_id,
        ingest_batches.c.batch_id == str(batch.batch_id),
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    if row.digest != digest:
        raise BatchConflict(
            f"batch {batch.batch_id} was already applied with different content",
            hint="a new batch needs a new batch id",
        )
    return IngestAck.model_validate({**row.ack, "replayed": True})


async def _existing(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, smsids: list[str]
) -> dict[str, sa.Row]:
    found: dict[str, sa.Row] = {}
    for start in range(0, len(smsids), 1000):
        chunk = smsids[start : start + 1000]
        stmt = sa.select(
            devices.c.smsid,
            devices.c.device_id,
            devices.c.content_hash,
            devices.c.sequence,
            devices.c.deleted_at,
            devices.c.collections,
        ).where(
            devices.c.tenant_id == tenant_id,
            devices.c.hierarchy_id == hierarchy_id,
            devices.c.smsid.in_(chunk),
        )
        found.update({row.smsid: row for row in await conn.execute(stmt)})
    return found


def _newer(sequence: int) -> sa.ColumnElement[bool]:
    return sa.or_(devices.c.sequence.is_(None), devices.c.sequence <= sequence)


def _upsert_statement(conn: AsyncConnection, sequence: int) -> sa.Executable:
    """INSERT, or on the site key UPDATE unless the row holds a newer sequence."""
    stmt = insert_for(conn, devices)
    excluded = stmt.excluded
    mdm = sa.or_(devices.c.mdm_enrolled_at.is_not(None), excluded.site_mdm_enrolled)
    return stmt.on_conflict_do_update(
        index_elements=["tenant_id", "hierarchy_id", "smsid"],
        set_={
            **{c: excluded[c] for c in SITE_COLUMNS},
            "site_code": excluded.site_code,
            "sequence": excluded.sequence,
            "batch_id": excluded.batch_id,
            "updated_at": excluded.updated_at,
            "deleted_at": None,
            # first_seen_at and mdm_enrolled_at keep their values.
            "managed_by": sa.case(
                (mdm, ManagedBy.CO_MANAGED.value), else_=ManagedBy.CONFIGMGR.value
            ),
        },
        where=_newer(sequence),
    )


async def _upsert(
    conn: AsyncConnection, tenant_id: str, batch: IngestBatch, now: datetime
) -> tuple[int, int, list[dict[str, Any]]]:
    """Write the batch's upserts; (stale, unchanged, events)."""
    records = {r.smsid: r for r in batch.upserts}  # the last of duplicates wins
    if not records:
        return 0, 0, []
    existing = await _existing(conn, tenant_id, batch.hierarchy_id, list(records))
    # The columns every row of the batch shares, merged into each row once.
    shared = {
        "tenant_id": tenant_id,
        "hierarchy_id": batch.hierarchy_id,
        "site_code": await _site_code(conn, tenant_id, batch.hierarchy_id),
        "sequence": batch.sequence,
        "batch_id": str(batch.batch_id),
        "first_seen_at": now,
        "updated_at": now,
        "deleted_at": None,
        "mdm_enrolled_at": None,
    }
    rows, events, membership = [], [], []
    stale = unchanged = 0
    for smsid, record in records.items():
        old = existing.get(smsid)
        if old is not None and old.sequence is not None and old.sequence > batch.sequence:
            stale += 1
            continue
        device_id = old.device_id if old is not None else str(uuid.uuid4())
        row = dict(zip(SITE_COLUMNS, device_row(record), strict=True))
        row.update(shared)
        row["device_id"] = device_id
        row["smsid"] = smsid
        row["managed_by"] = managed_by(row["site_mdm_enrolled"])
        rows.append(row)
        if old is None or old.deleted_at is not None:
            events.append({"device_id": device_id, "kind": "created"})
        elif old.content_hash != record.content_hash:
            events.append({"device_id": device_id, "kind": "updated"})
        else:
            unchanged += 1  # same content: only the sequence moves on
        # A tombstone removed the memberships but left the row's `collections`:
        # a re-created device needs its memberships back even when that list
        # did not change.
        if old is None or old.deleted_at is not None or old.collections != row["collections"]:
            membership.append((device_id, row["collections"], old is not None))
    if rows:
        await conn.execute(_upsert_statement(conn, batch.sequence), rows)
        await _replace_memberships(conn, tenant_id, membership)
    return stale, unchanged, events


async def _replace_memberships(
    conn: AsyncConnection, tenant_id: str, membership: list[tuple[str, list[str], bool]]
) -> None:
    """Set each device's collections; (device_id, collection ids, device existed before)."""
    if not membership:
        return
    # A device new to the store has no memberships to remove.
    ids = [device_id for device_id, _, existed in membership if existed]
    for start in range(0, len(ids), 1000):
        await conn.execute(
            device_collections.delete().where(
                device_collections.c.tenant_id == tenant_id,
                device_collections.c.device_id.in_(ids[start : start + 1000]),
            )
        )
    pairs = [
        {"tenant_id": tenant_id, "collection_id": cid, "device_id": device_id}
        for device_id, cids, _ in membership
        for cid in cids
    ]
    if pairs:
        await conn.execute(device_collections.insert(), pairs)


async def _site_code(conn: AsyncConnection, tenant_id: str, hierarchy_id: str) -> str | None:
    stmt = sa.select(hierarchies.c.site_code).where(
        hierarchies.c.tenant_id == tenant_id, hierarchies.c.hierarchy_id == hierarchy_id
    )
    return (await conn.execute(stmt)).scalar()


async def _tombstone(
    conn: AsyncConnection, tenant_id: str, batch: IngestBatch, now: datetime
) -> tuple[int, list[dict[str, Any]]]:
    smsids = list(dict.fromkeys(t.smsid for t in batch.tombstones))
    if not smsids:
        return 0, []
    existing = await _existing(conn, tenant_id, batch.hierarchy_id, smsids)
    live = [
        row
        for row in existing.values()
        if row.deleted_at is None and (row.sequence is None or row.sequence <= batch.sequence)
    ]
    if not live:
        return 0, []
    stmt = (
        devices.update()
        .where(
            devices.c.tenant_id == tenant_id,
            devices.c.device_id == sa.bindparam("b_device_id"),
            devices.c.deleted_at.is_(None),
            _newer(batch.sequence),
        )
        .values(
            deleted_at=now, updated_at=now, sequence=batch.sequence, batch_id=str(batch.batch_id)
        )
    )
    await conn.execute(stmt, [{"b_device_id": row.device_id} for row in live])
    await _replace_memberships(conn, tenant_id, [(row.device_id, [], True) for row in live])
    return len(live), [{"device_id": row.device_id, "kind": "deleted"} for row in live]


async def write_changes(
    conn: AsyncConnection, tenant_id: str, batch: IngestBatch, now: datetime
) -> Changes:
    """Write the batch's effects with statements every dialect runs (the portable path)."""
    stale, unchanged, events = await _upsert(conn, tenant_id, batch, now)
    tombstoned, deleted = await _tombstone(conn, tenant_id, batch, now)
    await store_collections(conn, tenant_id, batch)
    linked = await link_mdm_devices(conn, tenant_id, aad_device_ids(batch), now)
    all_events = [*events, *deleted, *({"device_id": d, "kind": "linked"} for d in linked)]
    if all_events:
        shared = {
            "tenant_id": tenant_id,
            "at": now,
            "sequence": batch.sequence,
            "batch_id": str(batch.batch_id),
        }
        await conn.execute(device_events.insert(), [{**e, **shared} for e in all_events])
    return Changes(upserted=len(events), unchanged=unchanged, stale=stale, tombstoned=tombstoned)


def _writer(conn: AsyncConnection, fast_path: bool) -> Writer:
    if fast_path and conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return write_changes_pg
    return write_changes


async def apply_batch(
    conn: AsyncConnection,
    tenant_id: str,
    batch: IngestBatch,
    *,
    digest: str,
    now: datetime,
    fast_path: bool = True,
) -> IngestAck:
    """Apply `batch` for the tenant inside the caller's transaction; its acknowledgement.

    `fast_path=False` keeps to the portable statements on PostgreSQL too (the
    equivalence tests compare the two paths).
    """
    replay = await _replayed(conn, tenant_id, batch, digest)
    if replay is not None:
        return replay
    changes = await _writer(conn, fast_path)(conn, tenant_id, batch, now)
    ack = IngestAck(
        batch_id=batch.batch_id,
        sequence=batch.sequence,
        upserted=changes.upserted,
        tombstoned=changes.tombstoned,
        unchanged=changes.unchanged,
        stale=changes.stale,
        received_at=now.replace(tzinfo=UTC),
    )
    await conn.execute(
        ingest_batches.insert().values(
            tenant_id=tenant_id,
            hierarchy_id=batch.hierarchy_id,
            batch_id=str(batch.batch_id),
            sequence=batch.sequence,
            digest=digest,
            ack=ack.model_dump(mode="json"),
            received_at=now,
        )
    )
    await conn.execute(
        hierarchies.update()
        .where(
            hierarchies.c.tenant_id == tenant_id,
            hierarchies.c.hierarchy_id == batch.hierarchy_id,
            sa.or_(
                hierarchies.c.last_applied_sequence.is_(None),
                hierarchies.c.last_applied_sequence < batch.sequence,
            ),
        )
        .values(last_applied_sequence=batch.sequence)
    )
    return ack
