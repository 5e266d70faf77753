"""Device check-in: device secrets, and the cloud gate's delivery of held workloads.

A secret is "cbd_<credential_id>_<secret>", generated here, returned once and
kept as a SHA-256 digest (a long random value: a fast hash is enough, as for
API tokens). Issuing one revokes the device's earlier ones. A credential is
bound to the device's Entra id: when an MDM-only record is linked to the
attached device (which replaces the record), the credential follows.

`deliver` is the gate (DESIGN.md section 7): a device gets a workload's
policies only while the cloud gate holds a grant for it, and each delivery is
logged under the hierarchy's log lock with the grant's epoch.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.store.authority_log import lock_log, write_log
from cloud.store.schema import authority_gate, device_credentials, devices
from cloud.store.secret_digest import issued_shape, secret_digest
from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.errors import CobridgeError

CREDENTIAL_PREFIX = "cbd"


class NoEntraId(CobridgeError):
    """The device has no Entra device id, so it is not one that can enroll and check in."""

    code = "conflict"


@dataclass(frozen=True)
class DeviceCredential:
    """An authenticated device secret: which tenant, and which device it was issued for."""

    tenant_id: str
    credential_id: str
    device_id: str
    aad_device_id: str


@dataclass(frozen=True)
class CheckedInDevice:
    """The device a credential names now: its id and, when attached, its site key."""

    device_id: str
    hierarchy_id: str | None
    smsid: str | None


async def issue_credential(
    conn: AsyncConnection, tenant_id: str, device_id: str, *, created_by: str, now: datetime
) -> tuple[str, str] | None:
    """A new secret for the tenant's device, revoking its others; (credential_id, secret).

    None when the tenant has no such live device; `NoEntraId` when it has no Entra id.
    """
    if "\x00" in device_id:
        return None
    stmt = sa.select(devices.c.aad_device_id).where(
        devices.c.tenant_id == tenant_id,
        devices.c.device_id == device_id,
        devices.c.deleted_at.is_(None),
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    if row.aad_device_id is None:
        raise NoEntraId(
            "this device has no Entra device id; only devices enrolled in MDM check in",
            hint="enroll the device (POST /api/v1/managedDevices) or wait for its site record",
        )
    c = device_credentials.c
    await conn.execute(
        device_credentials.update()
        .where(c.tenant_id == tenant_id, c.aad_device_id == row.aad_device_id)
        .where(c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    credential_id = uuid.uuid4().hex
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        device_credentials.insert().values(
            tenant_id=tenant_id,
            credential_id=credential_id,
            device_id=device_id,
            aad_device_id=row.aad_device_id,
            secret_hash=secret_digest(secret),
            created_by=created_by,
            created_at=now,
        )
    )
    return credential_id, f"{CREDENTIAL_PREFIX}_{credential_id}_{secret}"


async def check_credential(conn: AsyncConnection, presented: str) -> DeviceCredential | None:
    """The credential a presented device secret is, or None (unknown, wrong or revoked)."""
    if not issued_shape(presented):
        return None
    prefix, _, rest = presented.partition("_")
    credential_id, _, secret = rest.partition("_")
    if prefix != CREDENTIAL_PREFIX or len(credential_id) != 32 or not secret:
        return None
    stmt = sa.select(device_credentials).where(device_credentials.c.credential_id == credential_id)
    row = (await conn.execute(stmt)).mappings().first()
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_digest(secret)):
        return None
    if row["revoked_at"] is not None:
        return None
    return DeviceCredential(
        row["tenant_id"], row["credential_id"], row["device_id"], row["aad_device_id"]
    )


async def resolve_device(
    conn: AsyncConnection, credential: DeviceCredential
) -> CheckedInDevice | None:
    """The live device of the tenant a credential stands for now, or None.

    The device it was issued for while it lives; else the one attached device
    with its Entra id (the MDM record was linked to it). Two or more such
    devices are a dispute: none is chosen, so nothing is delivered.
    """
    d = devices.c
    stmt = sa.select(d.device_id, d.hierarchy_id, d.smsid).where(
        d.tenant_id == credential.tenant_id,
        d.aad_device_id == credential.aad_device_id,
        d.deleted_at.is_(None),
    )
    rows = (await conn.execute(stmt)).all()
    issued = [r for r in rows if r.device_id == credential.device_id]
    attached = [r for r in rows if r.hierarchy_id is not None]
    chosen = issued or (attached if len(attached) == 1 else [])
    if not chosen:
        return None
    return CheckedInDevice(*chosen[0])


async def _held(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, smsid: str
) -> list[tuple[Workload, int]]:
    g = authority_gate.c
    stmt = sa.select(g.workload, g.epoch).where(
        g.tenant_id == tenant_id,
        g.hierarchy_id == hierarchy_id,
        g.smsid == smsid,
        g.holds == sa.true(),
    )
    held = {Workload(w): int(e) for w, e in await conn.execute(stmt)}
    return [(w, held[w]) for w in ALL_WORKLOADS if w in held]


async def deliver(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    smsid: str,
    clock: Callable[[], datetime],
) -> tuple[list[tuple[Workload, int]], datetime]:
    """The workloads the cloud gate holds for the device, with their epochs, logged as delivered.

    A first look without the lock: holding nothing, nothing is delivered and
    nothing written (delivering nothing is always safe). Otherwise the gate is
    read again under the log lock, and that read is what is delivered.
    """
    if not await _held(conn, tenant_id, hierarchy_id, smsid):
        return [], clock()
    lock = await lock_log(conn, tenant_id, hierarchy_id, clock)
    held = await _held(conn, tenant_id, hierarchy_id, smsid)
    for workload, epoch in held:
        lock.delivered(smsid, workload.value, epoch)
    await write_log(conn, lock)
    return held, lock.at
