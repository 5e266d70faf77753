"""Admin API, attach: attach codes, attached hierarchies, connectors.

Every handler scopes by `call.tenant_id`, the caller's own tenant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cloud.contract.admin import (
    AttachCodeCreate,
    AttachCodeCreated,
    AttachCodeOut,
    Role,
)
from cloud.contract.attach import ConnectorOut, HierarchyOut
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, audit, aware
from cloud.store import attach as attach_store
from cloud.store import tenancy

api = Api()


@api.route(
    "GET",
    "/api/v1/attachCodes",
    role=Role.ADMIN,
    response=AttachCodeOut,
    list_response=True,
    tags=("attach",),
    **ADMIN,
)
async def list_attach_codes(call: Call) -> list[AttachCodeOut]:
    """Attach codes issued by the tenant (never the codes themselves)."""
    async with call.state.engine.connect() as conn:
        rows = await tenancy.list_attach_codes(conn, call.tenant_id)
    return [
        AttachCodeOut(
            code_id=r["code_id"],
            created_at=aware(r["created_at"]),
            expires_at=aware(r["expires_at"]),
            used_at=aware(r["used_at"]),
            connector_id=r["connector_id"],
            hierarchy_id=r["hierarchy_id"],
        )
        for r in rows
    ]


@api.route(
    "POST",
    "/api/v1/attachCodes",
    role=Role.ADMIN,
    body=AttachCodeCreate,
    response=AttachCodeCreated,
    status=201,
    tags=("attach",),
    **ADMIN,
)
async def create_attach_code(call: Call) -> AttachCodeCreated:
    """Issue a one-time attach code for a connector installation."""
    body: AttachCodeCreate = call.body
    caller = call.principal
    assert caller is not None
    async with call.state.engine.begin() as conn:
        code_id, code, expires = await tenancy.create_attach_code(
            conn,
            tenant_id=call.tenant_id,
            created_by=caller.principal_id,
            lifetime=timedelta(hours=body.expires_in_hours),
            hierarchy_id=body.hierarchy_id,
            now=call.state.clock(),
        )
        await audit(conn, call, "attach_code.create", code_id, {"hierarchyId": body.hierarchy_id})
    return AttachCodeCreated(
        code_id=code_id, code=code, expires_at=aware(expires), hierarchy_id=body.hierarchy_id
    )


def hierarchy_out(row: Any) -> HierarchyOut:
    """A hierarchy row as the wire model."""
    return HierarchyOut(
        hierarchy_id=row["hierarchy_id"],
        site_code=row["site_code"],
        site_name=row["site_name"],
        site_version=row["site_version"],
        connector_id=row["connector_id"],
        connector_version=row["connector_version"],
        registered_at=aware(row["registered_at"]),
        last_heartbeat_at=aware(row["last_heartbeat_at"]),
        last_applied_sequence=row["last_applied_sequence"],
        status=row["status"],
        detached_at=aware(row["detached_at"]),
        purge_after=aware(row["purge_after"]),
        device_count=row.get("device_count", 0) or 0,
    )


@api.route(
    "GET",
    "/api/v1/hierarchies",
    role=Role.VIEWER,
    response=HierarchyOut,
    list_response=True,
    tags=("attach",),
    **ADMIN,
)
async def list_hierarchies(call: Call) -> list[HierarchyOut]:
    """Hierarchies attached to the tenant, with heartbeat, status and device counts."""
    async with call.state.engine.connect() as conn:
        return [hierarchy_out(r) for r in await attach_store.list_hierarchies(conn, call.tenant_id)]


@api.route(
    "GET",
    "/api/v1/hierarchies/{hierarchyId}",
    role=Role.VIEWER,
    response=HierarchyOut,
    tags=("attach",),
    **ADMIN,
)
async def get_hierarchy(call: Call) -> HierarchyOut:
    """One attached hierarchy."""
    for row in await list_hierarchies(call):
        if row.hierarchy_id == call.param("hierarchyId"):
            return row
    raise ApiError("not_found", "no such hierarchy in this tenant")


@api.route(
    "POST",
    "/api/v1/hierarchies/{hierarchyId}/detach",
    role=Role.ADMIN,
    response=HierarchyOut,
    tags=("attach",),
    **ADMIN,
)
async def detach_hierarchy(call: Call) -> HierarchyOut:
    """Detach a hierarchy: its connectors are revoked now, its devices leave after the retention."""
    hierarchy_id = call.param("hierarchyId")
    retention = timedelta(days=call.state.settings.detach_retention_days)
    async with call.state.engine.begin() as conn:
        done = await attach_store.detach_hierarchy(
            conn, call.tenant_id, hierarchy_id, retention=retention, now=call.state.clock()
        )
        if not done:
            raise ApiError("not_found", "no such attached hierarchy in this tenant")
        await audit(conn, call, "hierarchy.detach", hierarchy_id, {"retentionDays": retention.days})
    return await get_hierarchy(call)


@api.route(
    "GET",
    "/api/v1/connectors",
    role=Role.VIEWER,
    response=ConnectorOut,
    list_response=True,
    tags=("attach",),
    **ADMIN,
)
async def list_connectors(call: Call) -> list[ConnectorOut]:
    """Enrolled connectors and their current certificates."""
    async with call.state.engine.connect() as conn:
        rows = await attach_store.list_connectors(conn, call.tenant_id)
    return [
        ConnectorOut(
            connector_id=r["connector_id"],
            hierarchy_id=r["hierarchy_id"],
            certificate_serial=r["serial"],
            certificate_not_after=aware(r["not_after"]),
            enrolled_at=aware(r["enrolled_at"]),
            last_seen_at=aware(r["last_seen_at"]),
            revoked_at=aware(r["revoked_at"]),
        )
        for r in rows
    ]


@api.route(
    "POST",
    "/api/v1/connectors/{connectorId}/revoke",
    role=Role.ADMIN,
    status=204,
    tags=("attach",),
    **ADMIN,
)
async def revoke_connector(call: Call) -> None:
    """Revoke a connector and all its certificates, effective on its next call."""
    async with call.state.engine.begin() as conn:
        done = await attach_store.revoke_connector(
            conn, call.tenant_id, call.param("connectorId"), call.state.clock()
        )
        if not done:
            raise ApiError("not_found", "no such active connector in this tenant")
        await audit(conn, call, "connector.revoke", call.param("connectorId"))
