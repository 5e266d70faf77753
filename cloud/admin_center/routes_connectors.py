"""The connectors page: attached hierarchies with their heartbeat status, connectors, detach.

Everything shown is the admin API's own answer (`list_hierarchies`,
`list_connectors`), and a detach goes through the API's handler, so it is
stored and audited exactly as `POST /api/v1/hierarchies/{id}/detach` is.
Only admins see the detach control; it asks for confirmation on a page of its
own (no JavaScript).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.attach import HierarchyOut
from cloud.service import routes_attach

pages = Pages()
# Keys of the heartbeat's status, as the page labels them, in the order shown.
STATUS_LABELS = (
    ("lastCycleAt", "Last cycle"),
    ("lastCycleSeconds", "Cycle duration (s)"),
    ("outcome", "Outcome"),
    ("error", "Error"),
    ("siteDevices", "Devices at the site"),
    ("backlog", "Backlog"),
    ("lagSeconds", "Lag (s)"),
    ("quarantined", "Quarantined"),
    ("heldDeletes", "Held deletes"),
    ("certificateNotAfter", "Certificate expires"),
)


def status_rows(status: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The heartbeat's status as (label, text) rows; keys it did not send are left out."""
    status = status or {}
    rows = []
    for key, label in STATUS_LABELS:
        value = status.get(key)
        if value is None or value == "":
            continue
        if key.endswith("At") or key.endswith("NotAfter"):
            value = str(value).replace("T", " ")[:16] + " UTC"
        rows.append((label, str(value)))
    return rows


def situations(status: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Counts per identity situation of the last cycle, by name."""
    found = (status or {}).get("situations")
    return sorted(found.items()) if isinstance(found, dict) else []


@pages.page("GET", "/connectors", nav=NavEntry("Connectors", order=30))
async def connectors(visit: Visit) -> web.StreamResponse:
    """The tenant's hierarchies (heartbeat, status, devices, detached) and connectors."""
    hierarchies = await visit.api(routes_attach.list_hierarchies)
    enrolled = await visit.api(routes_attach.list_connectors)
    return visit.render(
        "connectors.html",
        hierarchies=hierarchies,
        connectors=enrolled,
        status_rows=status_rows,
        situations=situations,
    )


async def _hierarchy(visit: Visit) -> HierarchyOut:
    hierarchy_id = visit.request.match_info["hierarchyId"]
    for hierarchy in await visit.api(routes_attach.list_hierarchies):
        if hierarchy.hierarchy_id == hierarchy_id:
            return hierarchy
    raise PageError(404, "No such hierarchy", "This tenant has no hierarchy with that id.")


@pages.page("GET", "/connectors/{hierarchyId}/detach")
async def confirm_detach(visit: Visit) -> web.StreamResponse:
    """Ask an admin to confirm the detach of one hierarchy."""
    visit.require_admin()
    hierarchy = await _hierarchy(visit)
    if hierarchy.detached_at is not None:
        raise PageError(409, "Already detached", "This hierarchy is already detached.")
    days = visit.state.settings.detach_retention_days
    return visit.render(
        "confirm.html",
        title=f"Detach hierarchy {hierarchy.hierarchy_id}?",
        lines=[
            f"Site {hierarchy.site_code}, {hierarchy.device_count} devices.",
            "Its connectors are revoked at once; they can no longer send anything.",
            f"Its devices leave the tenant after {days} days.",
        ],
        action=f"/connectors/{hierarchy.hierarchy_id}/detach",
        fields={},
        button="Detach",
        back="/connectors",
    )


@pages.page("POST", "/connectors/{hierarchyId}/detach")
async def detach(visit: Visit) -> web.StreamResponse:
    """Detach a hierarchy through the API's handler (audited), then back to the list."""
    visit.require_admin()
    await _hierarchy(visit)
    await visit.api(routes_attach.detach_hierarchy)
    raise web.HTTPSeeOther("/connectors")
