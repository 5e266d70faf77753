"""The quarantine and held deletes page: what the connector refused, what the guard holds.

Per hierarchy, the connector's latest quarantine report (counts per reason,
the newest records; the whole list is on `routes_quarantine`'s page), its
latest held-delete report (by cycle, with a sample of the devices) and the
release orders with their state. A release
goes through the admin API's handler, so it is audited and idempotent exactly
as `POST /api/v1/hierarchies/{id}/held-deletes/release` is. Only admins see
the release controls; each asks for confirmation on a page of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from pydantic import ValidationError

from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.quarantine_reasons import describe
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.attach import DeleteReleaseOut, DeleteReleaseRequest, HeldDeleteGroup
from cloud.service import routes_held_deletes
from cloud.service.routes_common import aware
from cloud.store import attach as attach_store
from cloud.store import held_deletes as held_store
from cloud.store import quarantine as quarantine_store
from cloud.store.quarantine import QuarantinePage

pages = Pages()
NEWEST_SHOWN = 5  # quarantined records shown per hierarchy on the overview


@dataclass
class HeldView:
    """One hierarchy's part of the page."""

    hierarchy_id: str
    site_code: str
    detached: bool
    reported_at: datetime | None = None
    groups: list[HeldDeleteGroup] = field(default_factory=list)
    releases: list[DeleteReleaseOut] = field(default_factory=list)
    quarantine: QuarantinePage | None = None

    @property
    def pending(self) -> set[str | None]:
        """Cycle ids (None: all) that a release order not yet applied covers."""
        return {r.cycle_id for r in self.releases if r.applied_at is None}


async def _views(visit: Visit, hierarchy_id: str | None = None) -> list[HeldView]:
    views = []
    async with visit.state.engine.connect() as conn:
        for h in await attach_store.list_hierarchies(conn, visit.tenant_id):
            if hierarchy_id is not None and h["hierarchy_id"] != hierarchy_id:
                continue
            view = HeldView(h["hierarchy_id"], h["site_code"], h["detached_at"] is not None)
            report = await held_store.get_report(conn, visit.tenant_id, view.hierarchy_id)
            if report is not None:
                view.reported_at = aware(report["reported_at"])
                view.groups = [HeldDeleteGroup.model_validate(g) for g in report["groups"]]
            rows = await held_store.list_releases(conn, visit.tenant_id, view.hierarchy_id)
            view.releases = [routes_held_deletes.release_out(r) for r in rows]
            view.quarantine = await quarantine_store.read_page(
                conn, visit.tenant_id, view.hierarchy_id, top=NEWEST_SHOWN
            )
            views.append(view)
    return views


@pages.page("GET", "/quarantine", nav=NavEntry("Quarantine & held deletes", order=50))
async def held_deletes(visit: Visit) -> web.StreamResponse:
    """Each hierarchy's quarantine and held deletes (latest reports) and its release orders."""
    return visit.render("held_deletes.html", views=await _views(visit), describe=describe)


def _request(visit: Visit, cycle: object) -> DeleteReleaseRequest:
    try:
        return DeleteReleaseRequest(cycle_id=cycle if isinstance(cycle, str) and cycle else None)
    except ValidationError:
        raise PageError(400, "Not a cycle", "That is not a cycle id of a report.") from None


@pages.page("GET", "/quarantine/{hierarchyId}/release")
async def confirm_release(visit: Visit) -> web.StreamResponse:
    """Ask an admin to confirm the release of one cycle's held deletes, or of all of them."""
    visit.require_admin()
    hierarchy_id = visit.request.match_info["hierarchyId"]
    wanted = _request(visit, visit.request.query.get("cycle")).cycle_id
    found = await _views(visit, hierarchy_id)
    if not found:
        raise PageError(404, "No such hierarchy", "This tenant has no hierarchy with that id.")
    groups = [g for g in found[0].groups if wanted is None or g.cycle_id == wanted]
    if not groups:
        raise PageError(409, "Nothing held", "The connector's latest report holds nothing here.")
    what = f"cycle {wanted}" if wanted else f"all {len(groups)} cycles"
    return visit.render(
        "confirm.html",
        title=f"Release the held deletes of {what}?",
        lines=[
            f"Hierarchy {hierarchy_id}: {sum(g.count for g in groups)} devices.",
            "The connector deletes a device only if its next complete read still shows "
            "it gone. The release is recorded in the audit log under your name.",
        ],
        action=f"/quarantine/{hierarchy_id}/release",
        fields={"cycle": wanted} if wanted else {},
        button="Release",
        back="/quarantine",
    )


@pages.page("POST", "/quarantine/{hierarchyId}/release")
async def release(visit: Visit) -> web.StreamResponse:
    """Order the release through the API's handler (audited, idempotent); back to the list."""
    visit.require_admin()
    form = await visit.request.post()
    body = _request(visit, form.get("cycle"))
    await visit.api(routes_held_deletes.release_held_deletes, body)
    raise web.HTTPSeeOther("/quarantine")
