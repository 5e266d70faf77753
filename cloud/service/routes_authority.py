"""Co-management authority: the cloud gate's commands and the arbiter's reports, and their reads.

Connector listener: the arbiter sends grant/revoke batches (decided by the
cloud gate, answered in order) and reports its records. Both are scoped to
the tenant and hierarchy of the connector's certificate, and refused once
the hierarchy is detached. Admin API: authority per device, counts per
workload, and a hierarchy's authority log for the invariant checker. Every
handler scopes by the caller's tenant.
"""

from __future__ import annotations

from cloud.contract.admin import Role
from cloud.contract.authority import (
    AuthorityCommandBatch,
    AuthorityReplies,
    AuthorityReply,
    AuthorityReport,
    AuthorityReportAck,
)
from cloud.contract.authority_views import (
    AuthorityLogPage,
    AuthorityLogQuery,
    DeviceAuthorityOut,
    WorkloadCountsOut,
)
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import attached_connector
from cloud.store import attach as attach_store
from cloud.store import authority as store
from cloud.store import authority_reads as reads
from cloud.store.authority_log import read_log

api = Api()
CONNECTOR = {"auth": "connector", "listener": "connector", "tags": ("authority",)}
VIEW = {"auth": "admin", "listener": "admin", "role": Role.VIEWER, "tags": ("authority",)}


@api.route(
    "POST",
    "/connector/v1/authority/commands",
    body=AuthorityCommandBatch,
    response=AuthorityReplies,
    **CONNECTOR,
)
async def authority_commands(call: Call) -> AuthorityReplies:
    """Apply grants and revokes to the cloud gate, in order, in one transaction; replies in order.

    Each is decided with fencing: a higher token is applied, the same again is
    acknowledged without change, a lower one is answered `stale` with what the
    gate has seen. Sending a batch again is harmless.
    """
    body: AuthorityCommandBatch = call.body
    commands = [c.message() for c in body.commands]
    async with call.state.engine.begin() as conn:
        tenant_id, hierarchy_id = await attached_connector(call, conn)
        decisions = await store.apply_commands(
            conn, tenant_id, hierarchy_id, commands, call.state.clock
        )
    return AuthorityReplies(replies=[AuthorityReply.of(d) for d in decisions])


@api.route(
    "POST",
    "/connector/v1/authority/states",
    body=AuthorityReport,
    response=AuthorityReportAck,
    **CONNECTOR,
)
async def authority_states(call: Call) -> AuthorityReportAck:
    """Report the arbiter's changed records; each is kept unless the stored one is newer."""
    body: AuthorityReport = call.body
    async with call.state.engine.begin() as conn:
        tenant_id, hierarchy_id = await attached_connector(call, conn)
        applied = await store.save_states(
            conn, tenant_id, hierarchy_id, body.records, call.state.clock()
        )
    received = len(body.records)
    return AuthorityReportAck(received=received, applied=applied, ignored=received - applied)


@api.route("GET", "/api/v1/devices/{deviceId}/authority", response=DeviceAuthorityOut, **VIEW)
async def device_authority(call: Call) -> DeviceAuthorityOut:
    """Who holds each workload of one device: the arbiter's record, the cloud gate's, any conflict."""
    async with call.state.engine.connect() as conn:
        out = await reads.device_authority(conn, call.tenant_id, call.param("deviceId"))
    if out is None:
        raise ApiError("not_found", "no such device in this tenant")
    return out


@api.route("GET", "/api/v1/workloads", response=WorkloadCountsOut, **VIEW)
async def workload_counts(call: Call) -> WorkloadCountsOut:
    """Each workload: devices settled on each side, in a handoff, in conflict; cloud grants."""
    async with call.state.engine.connect() as conn:
        return await reads.workload_counts(conn, call.tenant_id)


async def _log(call: Call, *, deliveries: bool) -> AuthorityLogPage:
    query: AuthorityLogQuery = call.query
    hierarchy_id = call.param("hierarchyId")
    async with call.state.engine.connect() as conn:
        if await attach_store.get_hierarchy(conn, call.tenant_id, hierarchy_id) is None:
            raise ApiError("not_found", "no such hierarchy in this tenant")
        return await read_log(
            conn,
            call.tenant_id,
            hierarchy_id,
            deliveries=deliveries,
            since=query.since,
            top=query.top,
        )


@api.route(
    "GET",
    "/api/v1/hierarchies/{hierarchyId}/authority/deliveries",
    query=AuthorityLogQuery,
    response=AuthorityLogPage,
    **VIEW,
)
async def authority_deliveries(call: Call) -> AuthorityLogPage:
    """The workloads device check-ins delivered, with their grant epochs, after `since` (by seq)."""
    return await _log(call, deliveries=True)


@api.route(
    "GET",
    "/api/v1/hierarchies/{hierarchyId}/authority/gateLog",
    query=AuthorityLogQuery,
    response=AuthorityLogPage,
    **VIEW,
)
async def authority_gate_log(call: Call) -> AuthorityLogPage:
    """The grants and revokes the cloud gate applied, after `since` (by seq, shared with deliveries)."""
    return await _log(call, deliveries=False)
