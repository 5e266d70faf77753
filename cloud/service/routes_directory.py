"""Active Directory computers: the connector sends what changed; admins list them per hierarchy.

Connector listener: `POST /connector/v1/directory/computers`, scoped to the
tenant and hierarchy of the connector's certificate and refused once the
hierarchy is detached. Admin API: a hierarchy's computers with their counts,
filtered by state (no agent, matched, disputed, disabled, discrepancy,
deleted) and searched by name. Every handler scopes by the caller's tenant.
"""

from __future__ import annotations

from cloud.contract.admin import Role
from cloud.contract.directory import (
    DirectoryComputerAck,
    DirectoryComputerBatch,
    DirectoryComputersOut,
    DirectoryQuery,
)
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, attached_connector
from cloud.store import attach as attach_store
from cloud.store import directory as store

api = Api()


@api.route(
    "POST",
    "/connector/v1/directory/computers",
    body=DirectoryComputerBatch,
    response=DirectoryComputerAck,
    auth="connector",
    listener="connector",
    tags=("directory",),
)
async def post_computers(call: Call) -> DirectoryComputerAck:
    """Store the computers whose records changed; sending a batch again changes nothing.

    Each computer replaces the record the tenant holds for its objectGuid in
    this hierarchy. A computer is never removed: one gone from AD arrives
    with `deletedAt` and stays listed.
    """
    body: DirectoryComputerBatch = call.body
    async with call.state.engine.begin() as conn:
        tenant_id, hierarchy_id = await attached_connector(call, conn)
        changed = await store.save_computers(
            conn, tenant_id, hierarchy_id, body.computers, call.state.clock()
        )
    return DirectoryComputerAck(received=len(body.computers), changed=changed)


@api.route(
    "GET",
    "/api/v1/hierarchies/{hierarchyId}/directoryComputers",
    role=Role.VIEWER,
    query=DirectoryQuery,
    response=DirectoryComputersOut,
    tags=("directory",),
    **ADMIN,
)
async def list_computers(call: Call) -> DirectoryComputersOut:
    """The hierarchy's AD computers by name: `state` filters, `search` matches names and DNs.

    `state=noAgent` lists the domain computers the site does not manage;
    `counts` covers every computer of the hierarchy whatever the filter.
    """
    query: DirectoryQuery = call.query
    async with call.state.engine.connect() as conn:
        hierarchy_id = call.param("hierarchyId")
        if await attach_store.get_hierarchy(conn, call.tenant_id, hierarchy_id) is None:
            raise ApiError("not_found", "no such hierarchy in this tenant")
        return await store.read_page(conn, call.tenant_id, hierarchy_id, query)
