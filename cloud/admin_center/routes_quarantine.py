"""The quarantined records of one hierarchy: every listed record, by reason, in pages.

What the connector last reported (`cloud.store.quarantine`): each reason's
full count, and the newest records it lists, which this page filters by
reason and pages through, newest first.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import ValidationError

from cloud.admin_center.quarantine_reasons import describe
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.quarantine import MAX_QUARANTINE_RECORDS, QuarantineQuery
from cloud.store import attach as attach_store
from cloud.store import quarantine as quarantine_store

pages = Pages()
PAGE_SIZE = 50


@pages.page("GET", "/quarantine/{hierarchyId}/records")
async def records(visit: Visit) -> web.StreamResponse:
    """One hierarchy's quarantined records, filtered by reason, a page at a time."""
    hierarchy_id = visit.request.match_info["hierarchyId"]
    reason = visit.request.query.get("reason", "").strip() or None
    try:
        number = max(1, int(visit.request.query.get("page", "1")))
    except ValueError:
        number = 1
    skip = min((number - 1) * PAGE_SIZE, MAX_QUARANTINE_RECORDS)
    try:
        QuarantineQuery(reason=reason, skip=skip, top=PAGE_SIZE)
    except ValidationError:
        raise PageError(400, "Not a reason", "That is not a quarantine reason code.") from None
    async with visit.state.engine.connect() as conn:
        hierarchy = None
        if "\x00" not in hierarchy_id:
            hierarchy = await attach_store.get_hierarchy(conn, visit.tenant_id, hierarchy_id)
        if hierarchy is None:
            raise PageError(404, "No such hierarchy", "This tenant has no hierarchy with that id.")
        page = await quarantine_store.read_page(
            conn, visit.tenant_id, hierarchy_id, reason=reason, skip=skip, top=PAGE_SIZE
        )
    base = f"/quarantine/{quote(hierarchy_id, safe='')}/records?"
    query = {"reason": reason} if reason else {}
    ahead = skip + len(page.records) < page.matched
    return visit.render(
        "quarantine.html",
        hierarchy_id=hierarchy_id,
        page=page,
        reason=reason,
        describe=describe,
        listed_total=min(page.total, MAX_QUARANTINE_RECORDS),
        first_index=skip + 1,
        prev_url=base + urlencode({**query, "page": number - 1}) if number > 1 else None,
        next_url=base + urlencode({**query, "page": number + 1}) if ahead else None,
    )
