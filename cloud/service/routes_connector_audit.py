"""The connector's audit log: the connector uploads its chain, admins read it with its status.

Connector listener: `POST /connector/v1/audit/entries`, scoped to the tenant
and hierarchy of the connector's certificate and refused once the hierarchy
is detached. An upload refused for what it sent (its chain, its entries, its
keys) is kept as the hierarchy's last refusal, in a transaction of its own.
Admin API (admins only, like the tenant's own audit log): one of a
hierarchy's chains (the current one unless named), its entries newest
first, each with the tenant's verdict, its status, the list of chains and
the last refused upload.
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
from cloud.store.connector_audit_chains import Refusal, record_refusal
from cloud.store.connector_audit_reads import read_page

api = Api()
# Refusals of what an upload sent, kept for admins (not the hierarchy's state, such as a detach).
RECORDED = frozenset(
    {
        "audit_chain_gap",
        "audit_chain_conflict",
        "audit_chain_superseded",
        "audit_signer_missing",
        "invalid_body",
    }
)


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
    """Add entries to one of the hierarchy's audit chains; entries already held are skipped.

    `chainId` names the chain (the entry hash of its entry 1). A batch
    starting at entry 1 of a chain the tenant does not hold starts it: it
    becomes the hierarchy's current chain, and the one before it is
    superseded. Otherwise the batch must continue the chain it names (409
    `audit_chain_gap`, that chain's head in the error's details), which must
    not be superseded (409 `audit_chain_superseded`); an entry for a held
    sequence with another hash is refused (409 `audit_chain_conflict`); the
    keys the new entries name must be held or sent along (409
    `audit_signer_missing`). Each new entry is stored with its verdict:
    verified, pending (its key not yet vouched for) or failed.
    """
    body: AuditUpload = call.body
    who = call.connector
    assert who is not None
    now = call.state.clock()
    try:
        async with call.state.engine.begin() as conn:
            tenant_id, hierarchy_id = await attached_connector(call, conn)
            return await take_upload(conn, tenant_id, hierarchy_id, who.connector_id, body, now)
    except ApiError as refused:
        if refused.code in RECORDED:
            refusal = Refusal(refused.code, refused.message, now, who.connector_id, body.chain)
            async with call.state.engine.begin() as conn:
                await record_refusal(conn, who.tenant_id, who.hierarchy_id, refusal)
        raise


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
    """One chain of the hierarchy's connector audit log, newest first, with each entry's verdict.

    `chain` says how far the chain read is verified and names its first
    problem; it is the hierarchy's current chain unless the query's `chain`
    names another (404 `not_found` when the hierarchy holds no such chain).
    `chains` lists every chain held, the current one first; `lastRefusal`
    is the last upload refused. Page with `before` (the previous page's
    `nextBefore`) and `$top`.
    """
    query: ConnectorAuditQuery = call.query
    async with call.state.engine.connect() as conn:
        hierarchy_id = call.param("hierarchyId")
        if await attach_store.get_hierarchy(conn, call.tenant_id, hierarchy_id) is None:
            raise ApiError("not_found", "no such hierarchy in this tenant")
        page = await read_page(conn, call.tenant_id, hierarchy_id, query)
    if page is None:
        raise ApiError(
            "not_found", "this hierarchy holds no audit chain of that id", target="chain"
        )
    return page
