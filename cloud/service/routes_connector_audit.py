"""The connector's audit log: the connector uploads its chain, admins read it with its status.

Connector listener: `POST /connector/v1/audit/entries`, scoped to the tenant
and hierarchy of the connector's certificate and refused once the hierarchy
is detached. Admin API (admins only, like the tenant's own audit log): a
hierarchy's entries newest first, each with the tenant's verdict, and the
chain's status.
"""

from __future__ import annotations

from cloud.contract.admin import Role
from cloud.contract.connector_audit import (
    AuditUpload,
    AuditUploadAck,
    ConnectorAuditLogOut,
    ConnectorAuditQuery,
)
from cloud.service.api import Api, Call
from cloud.service.connector_audit_intake import take_upload
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, attached_connector
from cloud.store import attach as attach_store
from cloud.store.connector_audit_reads import read_page

api = Api()


@api.route(
    "POST",
    "/connector/v1/audit/entries",
    body=AuditUpload,
    response=AuditUploadAck,
    auth="connector",
    listener="connector",
    tags=("audit",),
)
async def post_entries(call: Call) -> AuditUploadAck:
    """Add entries to the hierarchy's audit chain; entries already held are skipped.

    The batch must continue the chain the tenant holds (409
    `audit_chain_gap`, the head in the error's details); an entry for a held
    sequence with another hash is refused (409 `audit_chain_conflict`); the
    keys the new entries name must be held or sent along (409
    `audit_signer_missing`). Each new entry is stored with its verdict:
    verified, pending (its key not yet vouched for) or failed.
    """
    body: AuditUpload = call.body
    async with call.state.engine.begin() as conn:
        tenant_id, hierarchy_id = await attached_connector(call, conn)
        return await take_upload(conn, tenant_id, hierarchy_id, body, call.state.clock())


@api.route(
    "GET",
    "/api/v1/hierarchies/{hierarchyId}/auditLog",
    role=Role.ADMIN,
    query=ConnectorAuditQuery,
    response=ConnectorAuditLogOut,
    tags=("audit",),
    **ADMIN,
)
async def read_log(call: Call) -> ConnectorAuditLogOut:
    """The hierarchy's connector audit log, newest first, with each entry's verdict.

    `chain` says how far the chain is verified and names its first problem;
    page with `before` (the previous page's `nextBefore`) and `$top`.
    """
    query: ConnectorAuditQuery = call.query
    async with call.state.engine.connect() as conn:
        hierarchy_id = call.param("hierarchyId")
        if await attach_store.get_hierarchy(conn, call.tenant_id, hierarchy_id) is None:
            raise ApiError("not_found", "no such hierarchy in this tenant")
        return await read_page(conn, call.tenant_id, hierarchy_id, query)
