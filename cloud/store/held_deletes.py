"""The delete guard's cloud side: held-delete reports and admins' release orders.

A connector holds the deletes of a cycle that would delete too much
(DESIGN.md section 6) and reports them with its heartbeat; the latest report
replaces the one before. An admin's release order waits here until the
connector, told of it in a heartbeat answer, reports it applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.store.dialect import insert_for
from cloud.store.schema import delete_releases, held_delete_reports

# The releases list shows this many of the newest orders.
RELEASES_SHOWN = 500


def pending_key(cycle_id: str | None) -> str:
    """What makes two pending orders equal: the cycle they release, or all of them."""
    return "all" if cycle_id is None else f"cycle:{cycle_id}"


async def save_report(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    groups: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Replace the hierarchy's report of held deletes with `groups` (wire form)."""
    stmt = insert_for(conn, held_delete_reports).values(
        tenant_id=tenant_id, hierarchy_id=hierarchy_id, groups=groups, reported_at=now
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "hierarchy_id"],
            set_={"groups": groups, "reported_at": now},
        )
    )


async def get_report(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> sa.RowMapping | None:
    """The hierarchy's latest report, or None if its connector never reported one."""
    stmt = sa.select(held_delete_reports).where(
        held_delete_reports.c.tenant_id == tenant_id,
        held_delete_reports.c.hierarchy_id == hierarchy_id,
    )
    return (await conn.execute(stmt)).mappings().first()


def _of_hierarchy(tenant_id: str, hierarchy_id: str) -> list[sa.ColumnElement[bool]]:
    return [
        delete_releases.c.tenant_id == tenant_id,
        delete_releases.c.hierarchy_id == hierarchy_id,
    ]


async def pending_release(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, cycle_id: str | None
) -> sa.RowMapping | None:
    """The unapplied order equal to a release of `cycle_id`, if there is one."""
    stmt = sa.select(delete_releases).where(
        *_of_hierarchy(tenant_id, hierarchy_id),
        delete_releases.c.pending_key == pending_key(cycle_id),
    )
    return (await conn.execute(stmt)).mappings().first()


async def create_release(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    hierarchy_id: str,
    cycle_id: str | None,
    requested_by: str,
    requested_by_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Store a new release order; raises IntegrityError if an equal one is pending."""
    row = {
        "tenant_id": tenant_id,
        "release_id": str(uuid.uuid4()),
        "hierarchy_id": hierarchy_id,
        "cycle_id": cycle_id,
        "pending_key": pending_key(cycle_id),
        "requested_by": requested_by,
        "requested_by_id": requested_by_id,
        "requested_at": now,
        "applied_at": None,
        "applied_by": None,
    }
    await conn.execute(delete_releases.insert().values(**row))
    return row


async def apply_releases(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    hierarchy_id: str,
    release_ids: Sequence[UUID],
    connector_id: str,
    now: datetime,
) -> list[sa.RowMapping]:
    """Mark the hierarchy's pending orders among `release_ids` applied; those it marked.

    Ids unknown, of another hierarchy or already applied are passed over, so
    a connector may repeat an id until the answer stops listing its order.
    """
    if not release_ids:
        return []
    wanted = sorted({str(r) for r in release_ids})
    stmt = sa.select(delete_releases).where(
        *_of_hierarchy(tenant_id, hierarchy_id),
        delete_releases.c.release_id.in_(wanted),
        delete_releases.c.applied_at.is_(None),
    )
    marked = []
    for row in (await conn.execute(stmt)).mappings().all():
        done = await conn.execute(
            delete_releases.update()
            .where(
                delete_releases.c.tenant_id == tenant_id,
                delete_releases.c.release_id == row["release_id"],
                delete_releases.c.applied_at.is_(None),
            )
            .values(applied_at=now, applied_by=connector_id, pending_key=None)
        )
        # A concurrent heartbeat may have marked it first: only one audits it.
        if done.rowcount == 1:
            marked.append(row)
    return marked


async def pending_releases(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> list[sa.RowMapping]:
    """The hierarchy's orders not yet applied, oldest first."""
    stmt = (
        sa.select(delete_releases)
        .where(*_of_hierarchy(tenant_id, hierarchy_id), delete_releases.c.applied_at.is_(None))
        .order_by(delete_releases.c.requested_at, delete_releases.c.release_id)
    )
    return list((await conn.execute(stmt)).mappings().all())


async def list_releases(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> list[sa.RowMapping]:
    """The hierarchy's newest orders, applied or not, newest first."""
    stmt = (
        sa.select(delete_releases)
        .where(*_of_hierarchy(tenant_id, hierarchy_id))
        .order_by(delete_releases.c.requested_at.desc(), delete_releases.c.release_id.desc())
        .limit(RELEASES_SHOWN)
    )
    return list((await conn.execute(stmt)).mappings().all())
