"""Active Directory computers: what each hierarchy's domain holds, and what the site does not manage.

The overview gives each hierarchy's counts (computers, matched, no agent,
disputed, disabled, discrepancies, deleted), each linking to the list filtered
that way; the list pages through one hierarchy's computers by name, with a
state filter and a name search. Read from `cloud.store.directory`, as the
connector last sent them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import ValidationError

from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.directory import DirectoryQuery
from cloud.store import attach as attach_store
from cloud.store import directory as directory_store

pages = Pages()
PAGE_SIZE = 50
MAX_PAGE = 2000

# The list's filters, in the order shown, with what each means to an admin.
STATES: tuple[tuple[str, str, str], ...] = (
    ("all", "computers", "Every computer object in the directory's scope."),
    ("noAgent", "no_agent", "In the domain, but no site record: the site does not manage it."),
    ("matched", "matched", "Linked to a site record by distinguished name or name and domain."),
    ("disputed", "disputed", "Two or more site records could be it: never linked automatically."),
    ("disabled", "disabled", "The computer account is disabled in the domain."),
    (
        "discrepancy",
        "discrepancies",
        "Deleted from the domain, yet its site record still reports: check it.",
    ),
    ("deleted", "deleted", "Deleted from the domain (or moved out of the directory's scope)."),
)
LABELS = {
    "all": "All",
    "noAgent": "No agent",
    "matched": "Matched",
    "disputed": "Disputed",
    "disabled": "Disabled",
    "discrepancy": "Discrepancies",
    "deleted": "Deleted from AD",
}


@pages.page("GET", "/directory", nav=NavEntry("Directory", order=40))
async def overview(visit: Visit) -> web.StreamResponse:
    """Each hierarchy's AD computers, counted by state, with links to the lists."""
    async with visit.state.engine.connect() as conn:
        hierarchies = await attach_store.list_hierarchies(conn, visit.tenant_id)
        rows: list[dict[str, Any]] = []
        for h in hierarchies:
            if h["detached_at"] is not None:
                continue
            counts = await directory_store.count_computers(conn, visit.tenant_id, h["hierarchy_id"])
            rows.append({"hierarchy": h, "counts": counts})
    return visit.render("directory.html", rows=rows, states=STATES, labels=LABELS)


def _page_number(visit: Visit) -> int:
    try:
        return min(MAX_PAGE, max(1, int(visit.request.query.get("page", "1"))))
    except ValueError:
        return 1


@pages.page("GET", "/directory/{hierarchyId}")
async def computers(visit: Visit) -> web.StreamResponse:
    """One hierarchy's computers by name: a state filter, a search, pages."""
    hierarchy_id = visit.request.match_info["hierarchyId"]
    state = visit.request.query.get("state", "").strip() or "all"
    search = visit.request.query.get("search", "").strip() or None
    number = _page_number(visit)
    try:
        query = DirectoryQuery(
            state=state,  # type: ignore[arg-type]
            search=search,
            top=PAGE_SIZE,
            skip=(number - 1) * PAGE_SIZE,
        )
    except ValidationError:
        raise PageError(
            400, "Not a filter", "That state or search is not one this list understands."
        ) from None
    async with visit.state.engine.connect() as conn:
        hierarchy = None
        if "\x00" not in hierarchy_id:
            hierarchy = await attach_store.get_hierarchy(conn, visit.tenant_id, hierarchy_id)
        if hierarchy is None:
            raise PageError(404, "No such hierarchy", "This tenant has no hierarchy with that id.")
        page = await directory_store.read_page(conn, visit.tenant_id, hierarchy_id, query)
    base = f"/directory/{quote(hierarchy_id, safe='')}?"
    kept = {"state": state} | ({"search": search} if search else {})
    ahead = query.skip + len(page.value) < page.matched
    return visit.render(
        "directory_list.html",
        hierarchy_id=hierarchy_id,
        page=page,
        state=state,
        search=search or "",
        states=STATES,
        labels=LABELS,
        first_index=query.skip + 1,
        prev_url=base + urlencode({**kept, "page": number - 1}) if number > 1 else None,
        next_url=base + urlencode({**kept, "page": number + 1}) if ahead else None,
    )
