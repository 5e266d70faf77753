"""Admin API, quarantine: the records a hierarchy's connector refused, and why.

The connector reports its quarantine with a heartbeat when it changed (see
`heartbeat_quarantine`); this lists the latest report. Every handler scopes
by `call.tenant_id`, the caller's own tenant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.admin import Role
from cloud.contract.attach import Heartbeat
from cloud.contract.quarantine import QuarantineOut, QuarantineQuery
from cloud.pki import ConnectorIdentity
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN
from cloud.store import attach as attach_store
from cloud.store import quarantine as store

api = Api()


@api.route(
    "GET",
    "/api/v1/hierarchies/{hierarchyId}/quarantine",
    role=Role.VIEWER,
    query=QuarantineQuery,
    response=QuarantineOut,
    tags=("quarantine",),
    **ADMIN,
)
async def get_quarantine(call: Call) -> QuarantineOut:
    """The hierarchy's quarantined records (newest first, `reason` filter, `$top`/`$skip`).

    `counts` and `total` cover every quarantined record; the connector lists
    the newest 1,000 of them, which is what `value` pages through.
    """
    query: QuarantineQuery = call.query
    async with call.state.engine.connect() as conn:
        hierarchy_id = call.param("hierarchyId")
        if await attach_store.get_hierarchy(conn, call.tenant_id, hierarchy_id) is None:
            raise ApiError("not_found", "no such hierarchy in this tenant")
        page = await store.read_page(
            conn, call.tenant_id, hierarchy_id, reason=query.reason, skip=query.skip, top=query.top
        )
    return QuarantineOut(
        value=page.records,
        counts=page.counts,
        total=page.total,
        matched=page.matched,
        reported_at=page.reported_at,
    )


async def heartbeat_quarantine(
    conn: AsyncConnection, who: ConnectorIdentity, body: Heartbeat, now: datetime
) -> str | None:
    """A heartbeat's part of the quarantine: store its report; the digest the tenant holds."""
    if body.quarantine is not None:
        await store.save_report(conn, who.tenant_id, who.hierarchy_id, body.quarantine, now)
        return body.quarantine.digest
    return await store.held_digest(conn, who.tenant_id, who.hierarchy_id)
