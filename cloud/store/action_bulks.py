"""Bulk actions in the store: the devices a selection reaches, its token, the request row.

The devices are the device list's own (`count_devices`, `list_devices` of
`cloud.store.device_queries`, so a bulk acts on exactly what the list
shows). A selection matching more devices than its cap is not expanded.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.action_bulk import MAX_SAMPLE, BulkSelection, BulkTargetRef
from cloud.store.actions import Target
from cloud.store.device_queries import count_devices, list_devices
from cloud.store.schema import action_bulks, device_actions, hierarchies

_SELECT = ["deviceName", "hierarchyId", "smsid", "clientInstalled"]


@dataclass(frozen=True)
class Selected:
    """What a selection reaches now: matched devices, and the targets if within the cap."""

    matched: int
    cap: int
    targets: list[Target]
    token: str | None

    @property
    def within_cap(self) -> bool:
        """Whether the selection may be acted on (matches at most `cap` devices)."""
        return self.matched <= self.cap

    @property
    def sample(self) -> list[BulkTargetRef]:
        """The first targets by name, for people to recognise the set."""
        return [
            BulkTargetRef(device_id=t.device_id, device_name=t.device_name)
            for t in self.targets[:MAX_SAMPLE]
        ]


def confirm_token(tenant_id: str, selection: BulkSelection, targets: list[Target]) -> str:
    """A digest of the action and exactly these target devices (the preview's confirmation)."""
    body = {
        "tenant": tenant_id,
        "action": selection.action.wire(),
        "devices": sorted(t.device_id for t in targets),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def select_devices(
    conn: AsyncConnection, tenant_id: str, selection: BulkSelection
) -> Selected:
    """The devices `selection` matches now, and those of them an action can reach.

    Raises `QueryError` for a filter the device list refuses.
    """
    chosen = selection.device_filter()
    cap = selection.max_devices
    matched = await count_devices(conn, tenant_id, chosen.query())
    if matched > cap or matched == 0:
        return Selected(matched, cap, [], None)
    page = await list_devices(conn, tenant_id, chosen.query(top=cap, select=_SELECT))
    detached_stmt = sa.select(hierarchies.c.hierarchy_id).where(
        hierarchies.c.tenant_id == tenant_id, hierarchies.c.detached_at.is_not(None)
    )
    detached = {h for (h,) in await conn.execute(detached_stmt)}
    targets = [
        Target(
            device_id=str(item["id"]),
            device_name=str(item["deviceName"]),
            hierarchy_id=str(item["hierarchyId"]),
            smsid=str(item["smsid"]),
        )
        for item in page.items
        if item["hierarchyId"] is not None
        and item["smsid"] is not None
        and item["clientInstalled"]
        and item["hierarchyId"] not in detached
    ]
    return Selected(matched, cap, targets, confirm_token(tenant_id, selection, targets))


def request_digest(body: Any) -> str:
    """What makes two requests under one idempotency key the same request."""
    return hashlib.sha256(body.model_dump_json(exclude={"idempotency_key"}).encode()).hexdigest()


async def create_bulk(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    kind: str,
    selection: dict[str, Any],
    count: int,
    requested_by: str,
    requested_by_id: str,
    now: datetime,
    idempotency_key: str | None,
    digest: str,
) -> dict[str, Any]:
    """Store a bulk request; raises IntegrityError if the caller's key is taken."""
    row = {
        "tenant_id": tenant_id,
        "bulk_id": str(uuid.uuid4()),
        "kind": kind,
        "selection": selection,
        "count": count,
        "requested_by": requested_by,
        "requested_by_id": requested_by_id,
        "requested_at": now,
        "idempotency_key": idempotency_key,
        "request_digest": digest,
    }
    await conn.execute(action_bulks.insert().values(**row))
    return row


async def bulk_by_key(
    conn: AsyncConnection, tenant_id: str, principal_id: str, key: str
) -> sa.RowMapping | None:
    """The caller's bulk request made with `key`, or None."""
    stmt = sa.select(action_bulks).where(
        action_bulks.c.tenant_id == tenant_id,
        action_bulks.c.requested_by_id == principal_id,
        action_bulks.c.idempotency_key == key,
    )
    return (await conn.execute(stmt)).mappings().first()


async def actions_of_bulk(conn: AsyncConnection, tenant_id: str, bulk_id: str) -> list[str]:
    """The ids of the actions a bulk request queued, by device name."""
    stmt = (
        sa.select(device_actions.c.action_id)
        .where(device_actions.c.tenant_id == tenant_id, device_actions.c.bulk_id == bulk_id)
        .order_by(device_actions.c.device_name, device_actions.c.action_id)
    )
    return [a for (a,) in await conn.execute(stmt)]
