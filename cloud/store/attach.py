"""Connectors, their certificates, and the hierarchies they attach."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.store.dialect import insert_for
from cloud.store.schema import connector_certificates, connectors, devices, hierarchies


@dataclass(frozen=True)
class IssuedCertificate:
    """A connector certificate as the store keeps it."""

    serial: str
    fingerprint: str
    certificate_pem: str
    not_after: datetime


async def record_enrollment(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    connector_id: str,
    hierarchy_id: str,
    version: str,
    certificate: IssuedCertificate,
    now: datetime,
) -> None:
    """Store a newly enrolled connector and its first certificate."""
    await conn.execute(
        connectors.insert().values(
            tenant_id=tenant_id,
            connector_id=connector_id,
            hierarchy_id=hierarchy_id,
            version=version,
            enrolled_at=now,
        )
    )
    await record_certificate(
        conn, tenant_id=tenant_id, connector_id=connector_id, certificate=certificate, now=now
    )


async def record_certificate(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    connector_id: str,
    certificate: IssuedCertificate,
    now: datetime,
) -> None:
    """Store a certificate issued to a connector (enrollment or renewal)."""
    await conn.execute(
        connector_certificates.insert().values(
            tenant_id=tenant_id,
            serial=certificate.serial,
            connector_id=connector_id,
            fingerprint=certificate.fingerprint,
            certificate_pem=certificate.certificate_pem,
            not_after=certificate.not_after,
            issued_at=now,
        )
    )


async def certificate_status(
    conn: AsyncConnection, tenant_id: str, serial: str
) -> sa.RowMapping | None:
    """A certificate with its connector's state, or None if the tenant never issued it."""
    stmt = (
        sa.select(
            connector_certificates.c.connector_id,
            connector_certificates.c.fingerprint,
            connector_certificates.c.revoked_at,
            connectors.c.hierarchy_id,
            connectors.c.revoked_at.label("connector_revoked_at"),
        )
        .join(
            connectors,
            sa.and_(
                connectors.c.tenant_id == connector_certificates.c.tenant_id,
                connectors.c.connector_id == connector_certificates.c.connector_id,
            ),
        )
        .where(
            connector_certificates.c.tenant_id == tenant_id,
            connector_certificates.c.serial == serial,
        )
    )
    return (await conn.execute(stmt)).mappings().first()


async def touch_connector(
    conn: AsyncConnection, tenant_id: str, connector_id: str, now: datetime
) -> None:
    """Note that a connector was seen."""
    await conn.execute(
        connectors.update()
        .where(connectors.c.tenant_id == tenant_id, connectors.c.connector_id == connector_id)
        .values(last_seen_at=now)
    )


async def revoke_connector(
    conn: AsyncConnection, tenant_id: str, connector_id: str, now: datetime
) -> bool:
    """Revoke a connector and every certificate it holds; False if unknown or already revoked."""
    done = await conn.execute(
        connectors.update()
        .where(
            connectors.c.tenant_id == tenant_id,
            connectors.c.connector_id == connector_id,
            connectors.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    await conn.execute(
        connector_certificates.update()
        .where(
            connector_certificates.c.tenant_id == tenant_id,
            connector_certificates.c.connector_id == connector_id,
            connector_certificates.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return done.rowcount == 1


async def list_connectors(conn: AsyncConnection, tenant_id: str) -> list[dict[str, Any]]:
    """Connectors of the tenant with their newest certificate."""
    newest = (
        sa.select(
            connector_certificates.c.connector_id,
            sa.func.max(connector_certificates.c.issued_at).label("issued_at"),
        )
        .where(connector_certificates.c.tenant_id == tenant_id)
        .group_by(connector_certificates.c.connector_id)
        .subquery()
    )
    stmt = (
        sa.select(connectors, connector_certificates.c.serial, connector_certificates.c.not_after)
        .join(newest, newest.c.connector_id == connectors.c.connector_id)
        .join(
            connector_certificates,
            sa.and_(
                connector_certificates.c.tenant_id == connectors.c.tenant_id,
                connector_certificates.c.connector_id == connectors.c.connector_id,
                connector_certificates.c.issued_at == newest.c.issued_at,
            ),
        )
        .where(connectors.c.tenant_id == tenant_id)
        .order_by(connectors.c.enrolled_at)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def register_hierarchy(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    hierarchy_id: str,
    site_code: str,
    site_name: str | None,
    site_version: str | None,
    connector_id: str,
    connector_version: str,
    now: datetime,
) -> None:
    """Create or refresh a hierarchy's registration; a new connector ends a detachment."""
    values = {
        "site_code": site_code.upper(),
        "site_name": site_name,
        "site_version": site_version,
        "connector_id": connector_id,
        "connector_version": connector_version,
        "detached_at": None,
        "purge_after": None,
    }
    stmt = insert_for(conn, hierarchies).values(
        tenant_id=tenant_id, hierarchy_id=hierarchy_id, registered_at=now, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["tenant_id", "hierarchy_id"], set_=values)
    )


async def get_hierarchy(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> sa.RowMapping | None:
    """One hierarchy of the tenant, or None."""
    stmt = sa.select(hierarchies).where(
        hierarchies.c.tenant_id == tenant_id, hierarchies.c.hierarchy_id == hierarchy_id
    )
    return (await conn.execute(stmt)).mappings().first()


async def record_heartbeat(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    hierarchy_id: str,
    connector_version: str,
    status: dict[str, Any],
    now: datetime,
) -> None:
    """Store a heartbeat's time and status on the hierarchy."""
    await conn.execute(
        hierarchies.update()
        .where(hierarchies.c.tenant_id == tenant_id, hierarchies.c.hierarchy_id == hierarchy_id)
        .values(last_heartbeat_at=now, connector_version=connector_version, status=status)
    )


async def list_hierarchies(conn: AsyncConnection, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's hierarchies with their live device counts."""
    counts = (
        sa.select(devices.c.hierarchy_id, sa.func.count().label("device_count"))
        .where(devices.c.tenant_id == tenant_id, devices.c.deleted_at.is_(None))
        .group_by(devices.c.hierarchy_id)
        .subquery()
    )
    stmt = (
        sa.select(hierarchies, sa.func.coalesce(counts.c.device_count, 0).label("device_count"))
        .outerjoin(counts, counts.c.hierarchy_id == hierarchies.c.hierarchy_id)
        .where(hierarchies.c.tenant_id == tenant_id)
        .order_by(hierarchies.c.site_code, hierarchies.c.hierarchy_id)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def detach_hierarchy(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, *, retention: timedelta, now: datetime
) -> bool:
    """Detach: revoke its connectors now, remove its devices after `retention`."""
    done = await conn.execute(
        hierarchies.update()
        .where(
            hierarchies.c.tenant_id == tenant_id,
            hierarchies.c.hierarchy_id == hierarchy_id,
            hierarchies.c.detached_at.is_(None),
        )
        .values(detached_at=now, purge_after=now + retention)
    )
    if done.rowcount != 1:
        return False
    owned = sa.select(connectors.c.connector_id).where(
        connectors.c.tenant_id == tenant_id, connectors.c.hierarchy_id == hierarchy_id
    )
    for (connector_id,) in (await conn.execute(owned)).all():
        await revoke_connector(conn, tenant_id, connector_id, now)
    return True


async def purge_detached(conn: AsyncConnection, now: datetime) -> int:
    """Remove the devices of hierarchies whose retention has passed; how many went."""
    due = sa.select(hierarchies.c.tenant_id, hierarchies.c.hierarchy_id).where(
        hierarchies.c.purge_after.is_not(None), hierarchies.c.purge_after <= now
    )
    removed = 0
    for tenant_id, hierarchy_id in (await conn.execute(due)).all():
        result = await conn.execute(
            devices.delete().where(
                devices.c.tenant_id == tenant_id, devices.c.hierarchy_id == hierarchy_id
            )
        )
        removed += result.rowcount
        await conn.execute(
            hierarchies.update()
            .where(hierarchies.c.tenant_id == tenant_id, hierarchies.c.hierarchy_id == hierarchy_id)
            .values(purge_after=None)
        )
    return removed
