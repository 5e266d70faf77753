"""Apply an inventory batch: idempotent, all-or-nothing, ordered by sequence.

Invariants, each also enforced in SQL so concurrent workers keep them:
- a batch id is applied once; a replay returns the first acknowledgement and
  changes nothing; the same id with other content is refused;
- a device row only moves forward: an upsert or tombstone with a lower
  sequence than the row's is skipped (several batches travel at once);
- everything a batch does happens in the caller's one transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.devices import ManagedBy
from cloud.contract.inventory import DeviceRecord, IngestAck, IngestBatch
from cloud.store.dialect import insert_for
from cloud.store.linking import link_mdm_devices
from cloud.store.schema import (
    collections,
    device_collections,
    device_events,
    devices,
    hierarchies,
    ingest_batches,
)
from workloads.devices import build_number, os_family
from workloads.errors import CobridgeError


class BatchConflict(CobridgeError):
    """A batch id arrived again with different content."""

    code = "batch_conflict"


def _naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def device_values(record: DeviceRecord) -> dict[str, Any]:
    """The columns an upsert writes for one device record (everything the site owns)."""
    cm = record.comanagement
    return {
        "resource_id": record.resource_id,
        "name": record.name,
        "name_key": record.name.casefold(),
        "netbios_name": record.netbios_name,
        "domain": record.domain,
        "fqdn": record.fqdn,
        "os_family": os_family(record.os_name, record.os_build or record.os_version),
        "os_name": record.os_name,
        "os_caption": record.os_caption,
        "os_version": record.os_version,
        "os_build": build_number(record.os_build or record.os_version),
        "manufacturer": record.manufacturer,
        "model": record.model,
        "serial_number": record.serial_number,
        "user_name": record.user_name,
        "distinguished_name": record.distinguished_name,
        "ad_site": record.ad_site,
        "is_virtual": record.is_virtual,
        "aad_device_id": record.aad_device_id,
        "aad_tenant_id": record.aad_tenant_id,
        "client": record.client,
        "client_version": record.client_version,
        "client_active": record.client_active,
        "health_evaluation": record.health_evaluation,
        "last_active_at": _naive(record.last_active_at),
        "last_policy_request_at": _naive(record.last_policy_request_at),
        "last_hw_at": _naive(record.last_hardware_inventory_at),
        "last_logon_at": _naive(record.last_logon_at),
        "site_created_at": _naive(record.created_at),
        "site_mdm_enrolled": bool(cm and cm.mdm_enrolled),
        "comanagement_flags": cm.workload_flags if cm else None,
        "comanagement": cm.model_dump(mode="json") if cm else None,
        "collections": sorted(set(record.collections)),
        "content_hash": record.content_hash,
    }


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


async def _upsert(
    conn: AsyncConnection, tenant_id: str, batch: IngestBatch, now: datetime
) -> tuple[int, int, list[dict[str, Any]]]:
    """Write the batch's upserts; (stale, unchanged, events)."""
    records = {r.smsid: r for r in batch.upserts}  # the last of duplicates wins
    existing = await _existing(conn, tenant_id, batch.hierarchy_id, list(records))
    rows, events, membership = [], [], []
    stale = unchanged = 0
    for smsid, record in records.items():
        old = existing.get(smsid)
        if old is not None and old.sequence is not None and old.sequence > batch.sequence:
            stale += 1
            continue
        values = device_values(record)
        device_id = old.device_id if old is not None else str(uuid.uuid4())
        rows.append({**values, "tenant_id": tenant_id, "device_id": device_id, "smsid": smsid})
        if old is None or old.deleted_at is not None:
            events.append({"device_id": device_id, "kind": "created"})
        elif old.content_hash != record.content_hash:
            events.append({"device_id": device_id, "kind": "updated"})
        else:
            unchanged += 1  # same content: only the sequence moves on
        if old is None or old.collections != values["collections"]:
            membership.append((device_id, values["collections"], old is not None))
    if not rows:
        return stale, unchanged, []
    site_owned = [c for c in rows[0] if c not in {"tenant_id", "device_id", "smsid"}]
    stmt = insert_for(conn, devices)
    excluded = stmt.excluded
    mdm = sa.or_(devices.c.mdm_enrolled_at.is_not(None), excluded.site_mdm_enrolled)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "hierarchy_id", "smsid"],
        set_={
            **{c: excluded[c] for c in site_owned},
            "site_code": excluded.site_code,
            "sequence": excluded.sequence,
            "batch_id": excluded.batch_id,
            "updated_at": excluded.updated_at,
            "deleted_at": None,
            "managed_by": sa.case(
                (mdm, ManagedBy.CO_MANAGED.value), else_=ManagedBy.CONFIGMGR.value
            ),
        },
        where=_newer(batch.sequence),
    )
    site_code = await _site_code(conn, tenant_id, batch.hierarchy_id)
    for row in rows:
        row.update(
            hierarchy_id=batch.hierarchy_id,
            site_code=site_code,
            sequence=batch.sequence,
            batch_id=str(batch.batch_id),
            first_seen_at=now,
            updated_at=now,
            deleted_at=None,
            mdm_enrolled_at=None,
            managed_by=ManagedBy.CO_MANAGED.value
            if row["site_mdm_enrolled"]
            else ManagedBy.CONFIGMGR.value,
        )
    await conn.execute(stmt, rows)
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


async def _store_collections(conn: AsyncConnection, tenant_id: str, batch: IngestBatch) -> None:
    if not batch.collections:
        return
    stmt = insert_for(conn, collections)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "hierarchy_id", "collection_id"],
        set_={
            "name": stmt.excluded.name,
            "collection_type": stmt.excluded.collection_type,
            "limit_to": stmt.excluded.limit_to,
        },
    )
    await conn.execute(
        stmt,
        [
            {
                "tenant_id": tenant_id,
                "hierarchy_id": batch.hierarchy_id,
                "collection_id": c.collection_id.upper(),
                "name": c.name,
                "collection_type": c.collection_type,
                "limit_to": c.limit_to,
            }
            for c in batch.collections
        ],
    )


async def apply_batch(
    conn: AsyncConnection, tenant_id: str, batch: IngestBatch, *, digest: str, now: datetime
) -> IngestAck:
    """Apply `batch` for the tenant inside the caller's transaction; its acknowledgement."""
    replay = await _replayed(conn, tenant_id, batch, digest)
    if replay is not None:
        return replay
    stale, unchanged, events = await _upsert(conn, tenant_id, batch, now)
    tombstoned, deleted = await _tombstone(conn, tenant_id, batch, now)
    await _store_collections(conn, tenant_id, batch)
    linked = await link_mdm_devices(
        conn, tenant_id, {r.aad_device_id for r in batch.upserts if r.aad_device_id}, now
    )
    all_events = [*events, *deleted, *({"device_id": d, "kind": "linked"} for d in linked)]
    if all_events:
        await conn.execute(
            device_events.insert(),
            [
                {
                    **e,
                    "tenant_id": tenant_id,
                    "at": now,
                    "sequence": batch.sequence,
                    "batch_id": str(batch.batch_id),
                }
                for e in all_events
            ],
        )
    ack = IngestAck(
        batch_id=batch.batch_id,
        sequence=batch.sequence,
        upserted=len(events),
        tombstoned=tombstoned,
        unchanged=unchanged,
        stale=stale,
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
