"""Linking attached devices with devices the tenant knows from MDM enrollment.

The key is AADDeviceID (DESIGN.md section 5: never names). Exactly one
attached device with the id links; two or more are a dispute, recorded with
the candidates and never linked automatically.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.devices import ManagedBy
from cloud.store.dialect import insert_for
from cloud.store.schema import device_events, devices, identity_disputes


def _in_chunks(values: list[str], size: int = 1000) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


async def _attached_by_aad(
    conn: AsyncConnection, tenant_id: str, aad_ids: list[str]
) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    for chunk in _in_chunks(aad_ids):
        stmt = sa.select(
            devices.c.device_id,
            devices.c.aad_device_id,
            devices.c.hierarchy_id,
            devices.c.smsid,
            devices.c.name,
        ).where(
            devices.c.tenant_id == tenant_id,
            devices.c.hierarchy_id.is_not(None),
            devices.c.deleted_at.is_(None),
            devices.c.aad_device_id.in_(chunk),
        )
        for row in await conn.execute(stmt):
            found[row.aad_device_id].append(row)
    return found


async def _record_dispute(
    conn: AsyncConnection, tenant_id: str, aad_id: str, rows: list[Any], now: datetime
) -> None:
    candidates = [
        {
            "deviceId": r.device_id,
            "hierarchyId": r.hierarchy_id,
            "smsid": r.smsid,
            "deviceName": r.name,
        }
        for r in sorted(rows, key=lambda r: r.device_id)
    ]
    stmt = insert_for(conn, identity_disputes).values(
        tenant_id=tenant_id,
        dispute_id=str(uuid.uuid4()),
        key_name="azureADDeviceId",
        key_value=aad_id,
        candidates=candidates,
        detected_at=now,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "key_name", "key_value"],
            set_={"candidates": stmt.excluded.candidates, "resolved_at": None},
        )
    )


async def _link(conn: AsyncConnection, tenant_id: str, attached_id: str, mdm: Any) -> None:
    await conn.execute(
        devices.update()
        .where(devices.c.tenant_id == tenant_id, devices.c.device_id == attached_id)
        .values(mdm_enrolled_at=mdm.mdm_enrolled_at, managed_by=ManagedBy.CO_MANAGED.value)
    )
    # The MDM record's history moves to the attached device; the record goes.
    await conn.execute(
        device_events.update()
        .where(device_events.c.tenant_id == tenant_id, device_events.c.device_id == mdm.device_id)
        .values(device_id=attached_id)
    )
    await conn.execute(
        devices.delete().where(
            devices.c.tenant_id == tenant_id, devices.c.device_id == mdm.device_id
        )
    )


async def link_mdm_devices(
    conn: AsyncConnection, tenant_id: str, aad_ids: set[str], now: datetime
) -> list[str]:
    """Link MDM-only devices whose AADDeviceID is in `aad_ids`; the attached ids linked."""
    if not aad_ids:
        return []
    mdm_rows: dict[str, Any] = {}
    for chunk in _in_chunks(sorted(aad_ids)):
        stmt = sa.select(
            devices.c.device_id, devices.c.aad_device_id, devices.c.mdm_enrolled_at
        ).where(
            devices.c.tenant_id == tenant_id,
            devices.c.hierarchy_id.is_(None),
            devices.c.deleted_at.is_(None),
            devices.c.aad_device_id.in_(chunk),
        )
        mdm_rows.update({row.aad_device_id: row for row in await conn.execute(stmt)})
    if not mdm_rows:
        return []
    attached = await _attached_by_aad(conn, tenant_id, sorted(mdm_rows))
    linked = []
    for aad_id, mdm in mdm_rows.items():
        candidates = attached.get(aad_id, [])
        if len(candidates) == 1:
            await _link(conn, tenant_id, candidates[0].device_id, mdm)
            linked.append(candidates[0].device_id)
        elif len(candidates) > 1:
            await _record_dispute(conn, tenant_id, aad_id, candidates, now)
    return linked


async def enroll_mdm_device(
    conn: AsyncConnection,
    tenant_id: str,
    *,
    aad_device_id: str,
    device_name: str,
    os_version: str | None,
    now: datetime,
) -> tuple[str, str]:
    """Record an MDM enrollment; (device_id, outcome) with outcome linked/created/disputed/known."""
    attached = (await _attached_by_aad(conn, tenant_id, [aad_device_id])).get(aad_device_id, [])
    if len(attached) == 1:
        device_id = attached[0].device_id
        await conn.execute(
            devices.update()
            .where(devices.c.tenant_id == tenant_id, devices.c.device_id == device_id)
            .values(mdm_enrolled_at=now, managed_by=ManagedBy.CO_MANAGED.value, updated_at=now)
        )
        await conn.execute(
            device_events.insert().values(
                tenant_id=tenant_id, device_id=device_id, at=now, kind="enrolled"
            )
        )
        return device_id, "linked"
    existing = (
        await conn.execute(
            sa.select(devices.c.device_id).where(
                devices.c.tenant_id == tenant_id,
                devices.c.hierarchy_id.is_(None),
                devices.c.aad_device_id == aad_device_id,
                devices.c.deleted_at.is_(None),
            )
        )
    ).scalar()
    if existing is not None:
        return existing, "known"
    device_id = str(uuid.uuid4())
    await conn.execute(
        devices.insert().values(
            tenant_id=tenant_id,
            device_id=device_id,
            name=device_name,
            name_key=device_name.casefold(),
            aad_device_id=aad_device_id,
            os_version=os_version,
            client=False,
            site_mdm_enrolled=False,
            mdm_enrolled_at=now,
            managed_by=ManagedBy.INTUNE.value,
            first_seen_at=now,
            updated_at=now,
        )
    )
    await conn.execute(
        device_events.insert().values(
            tenant_id=tenant_id, device_id=device_id, at=now, kind="enrolled"
        )
    )
    if len(attached) > 1:
        await _record_dispute(conn, tenant_id, aad_device_id, attached, now)
        return device_id, "disputed"
    return device_id, "created"
