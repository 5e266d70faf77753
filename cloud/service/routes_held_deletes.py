"""Admin API, held deletes: what the delete guard holds, and audited release orders.

The connector holds every delete of a cycle that would delete too much
(DESIGN.md section 6) and reports them in its heartbeat. An admin releases
them here; the order reaches the connector in its heartbeat answers until the
connector reports it applied (see `heartbeat_releases`). Every handler scopes
by `call.tenant_id`, the caller's own tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.admin import Role
from cloud.contract.attach import (
    DeleteReleaseOrder,
    DeleteReleaseOut,
    DeleteReleaseRequest,
    Heartbeat,
    HeldDeleteGroup,
    HeldDeletesOut,
)
from cloud.pki import ConnectorIdentity
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, audit, aware
from cloud.store import attach as attach_store
from cloud.store import held_deletes as store
from cloud.store import tenancy

api = Api()
TAGS = ("held-deletes",)
BASE = "/api/v1/hierarchies/{hierarchyId}/held-deletes"


async def _hierarchy(conn: AsyncConnection, call: Call) -> sa.RowMapping:
    row = await attach_store.get_hierarchy(conn, call.tenant_id, call.param("hierarchyId"))
    if row is None:
        raise ApiError("not_found", "no such hierarchy in this tenant")
    return row


def release_out(row: Any) -> DeleteReleaseOut:
    """A stored release order as admins see it."""
    return DeleteReleaseOut(
        release_id=row["release_id"],
        hierarchy_id=row["hierarchy_id"],
        cycle_id=row["cycle_id"],
        requested_by=row["requested_by"],
        requested_at=aware(row["requested_at"]),
        applied_at=aware(row["applied_at"]),
    )


@api.route("GET", BASE, role=Role.VIEWER, response=HeldDeletesOut, tags=TAGS, **ADMIN)
async def get_held_deletes(call: Call) -> HeldDeletesOut:
    """The deletes the connector last reported held, by cycle."""
    async with call.state.engine.connect() as conn:
        hierarchy = await _hierarchy(conn, call)
        report = await store.get_report(conn, call.tenant_id, hierarchy["hierarchy_id"])
    if report is None:
        return HeldDeletesOut(value=[], reported_at=None)
    return HeldDeletesOut(
        value=[HeldDeleteGroup.model_validate(g) for g in report["groups"]],
        reported_at=aware(report["reported_at"]),
    )


@api.route(
    "POST",
    f"{BASE}/release",
    role=Role.ADMIN,
    body=DeleteReleaseRequest,
    response=DeleteReleaseOut,
    status=202,
    tags=TAGS,
    **ADMIN,
)
async def release_held_deletes(call: Call) -> DeleteReleaseOut:
    """Order the connector to let held deletes through: one cycle's (cycleId), or all (`{}`).

    Accepted (202), not done: the connector applies the order after its next
    heartbeat. Asking again while an equal order is pending answers that
    order (202 again, same releaseId) and changes nothing.
    """
    body: DeleteReleaseRequest = call.body
    try:
        async with call.state.engine.begin() as conn:
            return await _release(conn, call, body.cycle_id)
    except sa.exc.IntegrityError:
        # An equal order committed concurrently: a second look answers with it.
        async with call.state.engine.begin() as conn:
            return await _release(conn, call, body.cycle_id)


async def _release(conn: AsyncConnection, call: Call, cycle_id: str | None) -> DeleteReleaseOut:
    caller = call.principal
    assert caller is not None
    hierarchy = await _hierarchy(conn, call)
    hierarchy_id = hierarchy["hierarchy_id"]
    if hierarchy["detached_at"] is not None:
        raise ApiError("hierarchy_detached", "this hierarchy was detached; nothing to release")
    pending = await store.pending_release(conn, call.tenant_id, hierarchy_id, cycle_id)
    if pending is not None:
        return release_out(pending)
    report = await store.get_report(conn, call.tenant_id, hierarchy_id)
    groups = [HeldDeleteGroup.model_validate(g) for g in (report["groups"] if report else [])]
    held = [g for g in groups if cycle_id is None or g.cycle_id == cycle_id]
    if not held:
        if cycle_id is None:
            raise ApiError("nothing_held", "the connector's latest report lists no held deletes")
        raise ApiError(
            "nothing_held",
            f"the connector's latest report lists no held deletes of cycle {cycle_id!r}",
            target="cycleId",
        )
    row = await store.create_release(
        conn,
        tenant_id=call.tenant_id,
        hierarchy_id=hierarchy_id,
        cycle_id=cycle_id,
        requested_by=caller.name,
        requested_by_id=caller.principal_id,
        now=call.state.clock(),
    )
    details = {
        "releaseId": row["release_id"],
        "cycleId": cycle_id,
        # What the admin was shown: the report's cycles and devices this order covers.
        "cycles": len(held),
        "devices": sum(g.count for g in held),
    }
    await audit(conn, call, "held_deletes.release_requested", hierarchy_id, details)
    return release_out(row)


@api.route(
    "GET",
    f"{BASE}/releases",
    role=Role.VIEWER,
    response=DeleteReleaseOut,
    list_response=True,
    tags=TAGS,
    **ADMIN,
)
async def list_delete_releases(call: Call) -> list[DeleteReleaseOut]:
    """Release orders of the hierarchy, newest first (the newest 500), applied or pending."""
    async with call.state.engine.connect() as conn:
        hierarchy = await _hierarchy(conn, call)
        rows = await store.list_releases(conn, call.tenant_id, hierarchy["hierarchy_id"])
    return [release_out(r) for r in rows]


async def heartbeat_releases(
    conn: AsyncConnection, who: ConnectorIdentity, body: Heartbeat, now: datetime
) -> list[DeleteReleaseOrder]:
    """A heartbeat's part of the delete guard: store its report, note applied orders.

    Returns the orders still pending for the connector's own hierarchy, oldest
    first. Applied ids that are unknown, of another hierarchy or already
    applied are ignored: a heartbeat never fails for them.
    """
    tenant_id, hierarchy_id = who.tenant_id, who.hierarchy_id
    if body.held_deletes is not None:
        groups = [g.wire() for g in body.held_deletes]
        await store.save_report(conn, tenant_id, hierarchy_id, groups, now)
    applied = await store.apply_releases(
        conn,
        tenant_id=tenant_id,
        hierarchy_id=hierarchy_id,
        release_ids=body.applied_releases,
        connector_id=who.connector_id,
        now=now,
    )
    for row in applied:
        await tenancy.audit(
            conn,
            tenant_id=tenant_id,
            actor=f"connector:{who.connector_id}",
            action="held_deletes.released",
            target=hierarchy_id,
            now=now,
            details={
                "releaseId": row["release_id"],
                "cycleId": row["cycle_id"],
                "requestedBy": row["requested_by"],
            },
        )
    return [
        DeleteReleaseOrder(
            release_id=r["release_id"],
            cycle_id=r["cycle_id"],
            requested_by=r["requested_by"],
            requested_at=aware(r["requested_at"]),
        )
        for r in await store.pending_releases(conn, tenant_id, hierarchy_id)
    ]
