"""The audit page: who changed what in the tenant, and when, newest first.

Admins only, as the API's `GET /api/v1/auditLog` is. Filters by action (a
prefix such as `held_deletes.`) and actor; keyset pages ("older" carries the
last entry shown), so an entry appended while an admin reads never shifts a page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.store.audit_reads import AuditCursor, audit_actions, read_audit
from cloud.store.connector_audit_reads import chains_of
from cloud.store.device_view import aware_utc

pages = Pages()
PAGE_SIZE = 50
MAX_FILTER = 128


def _details(details: Any) -> list[tuple[str, str]]:
    """An entry's details as (name, value) lines; nested values as compact JSON."""
    if not isinstance(details, dict):
        return [] if details is None else [("", json.dumps(details))]
    return [
        (str(k), v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
        for k, v in details.items()
    ]


@pages.page("GET", "/audit", nav=NavEntry("Audit", order=70, admin_only=True))
async def audit(visit: Visit) -> web.StreamResponse:
    """The tenant's audit log, newest first, filtered by action and actor."""
    visit.require_admin()
    query = visit.request.query
    action = query.get("action", "").strip()[:MAX_FILTER] or None
    actor = query.get("actor", "").strip()[:MAX_FILTER] or None
    if any("\x00" in (v or "") for v in (action, actor)):
        raise PageError(400, "Not a filter", "A filter cannot contain a NUL character.")
    after = None
    if query.get("after"):
        after = AuditCursor.parse(query["after"])
        if after is None:
            raise PageError(400, "Not a page", "That link does not name a page of the log.")
    async with visit.state.engine.connect() as conn:
        page = await read_audit(
            conn,
            visit.tenant_id,
            action_prefix=action,
            actor_contains=actor,
            after=after,
            limit=PAGE_SIZE,
        )
        actions = await audit_actions(conn, visit.tenant_id)
        # Each connector's own signed log, linked from here (routes_connector_audit).
        connector_chains = await chains_of(conn, visit.tenant_id)
    filters = {k: v for k, v in (("action", action), ("actor", actor)) if v}
    entries = [
        {**e, "at": aware_utc(e["at"]), "lines": _details(e["details"])} for e in page.entries
    ]
    return visit.render(
        "audit.html",
        entries=entries,
        actions=actions,
        connector_chains=connector_chains,
        action=action,
        actor=actor,
        newest_url=f"/audit?{urlencode(filters)}" if after is not None else None,
        older_url=f"/audit?{urlencode({**filters, 'after': page.next_cursor.token()})}"
        if page.next_cursor
        else None,
    )
