"""The rows an inventory batch writes, shared by both ways of writing them.

The portable path (`cloud.store.ingest`) and the PostgreSQL fast path
(`cloud.store.ingest_pg`) build the same device rows, count the same
changes and store collections the same way; this module holds what they
share, so that neither path imports the other's module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.devices import ManagedBy
from cloud.contract.inventory import DeviceRecord, IngestBatch
from cloud.store.dialect import insert_for
from cloud.store.schema import collections
from workloads.devices import build_number, os_family

# The device columns a record sets (everything the site owns), in the order
# `device_row` returns them. An upsert writes these on insert and on update.
SITE_COLUMNS: tuple[str, ...] = (
    "resource_id",
    "name",
    "name_key",
    "netbios_name",
    "domain",
    "fqdn",
    "os_family",
    "os_name",
    "os_caption",
    "os_version",
    "os_build",
    "manufacturer",
    "model",
    "serial_number",
    "user_name",
    "distinguished_name",
    "ad_site",
    "is_virtual",
    "aad_device_id",
    "aad_tenant_id",
    "client",
    "client_version",
    "client_active",
    "health_evaluation",
    "last_active_at",
    "last_policy_request_at",
    "last_hw_at",
    "last_logon_at",
    "site_created_at",
    "site_mdm_enrolled",
    "comanagement_flags",
    "comanagement",
    "collections",
    "content_hash",
)


def _naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def device_row(record: DeviceRecord) -> tuple[Any, ...]:
    """The values of SITE_COLUMNS for one record, in that order.

    `comanagement` and `collections` are the Python values of JSON columns;
    `collections` is sorted and without duplicates, so equal sets compare equal.
    """
    cm = record.comanagement
    build = record.os_build or record.os_version
    return (
        record.resource_id,
        record.name,
        record.name.casefold(),
        record.netbios_name,
        record.domain,
        record.fqdn,
        os_family(record.os_name, build),
        record.os_name,
        record.os_caption,
        record.os_version,
        build_number(build),
        record.manufacturer,
        record.model,
        record.serial_number,
        record.user_name,
        record.distinguished_name,
        record.ad_site,
        record.is_virtual,
        record.aad_device_id,
        record.aad_tenant_id,
        record.client,
        record.client_version,
        record.client_active,
        record.health_evaluation,
        _naive(record.last_active_at),
        _naive(record.last_policy_request_at),
        _naive(record.last_hardware_inventory_at),
        _naive(record.last_logon_at),
        _naive(record.created_at),
        bool(cm and cm.mdm_enrolled),
        cm.workload_flags if cm else None,
        cm.model_dump(mode="json") if cm else None,
        sorted(set(record.collections)),
        record.content_hash,
    )


def device_values(record: DeviceRecord) -> dict[str, Any]:
    """The columns an upsert writes for one device record (everything the site owns)."""
    return dict(zip(SITE_COLUMNS, device_row(record), strict=True))


def managed_by(site_mdm_enrolled: bool) -> str:
    """Who manages a device new to the store (MDM linking may make it co-managed later)."""
    return ManagedBy.CO_MANAGED.value if site_mdm_enrolled else ManagedBy.CONFIGMGR.value


@dataclass(frozen=True, slots=True)
class Changes:
    """What writing a batch did, for its acknowledgement."""

    upserted: int  # created or changed
    unchanged: int  # same content: only the sequence moved on
    stale: int  # a newer batch had already written the device
    tombstoned: int


def aad_device_ids(batch: IngestBatch) -> set[str]:
    """The AADDeviceIDs the batch's upserts carry (stale ones too): the keys to link by."""
    return {r.aad_device_id for r in batch.upserts if r.aad_device_id}


async def store_collections(conn: AsyncConnection, tenant_id: str, batch: IngestBatch) -> None:
    """Upsert the names and types of the collections the batch describes."""
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
