"""The device-action pages: the device's Actions card, the actions list, bulk actions, cancel.

Every change goes through the admin API's handler (`cloud.service.routes_actions`),
so it is checked, audited and queued exactly as the API's calls are; the
pages only turn forms into its request models. Only operators and admins see
or may post the forms (the API's operator role). A bulk action is previewed
first (how many devices, a sample) and confirmed with the count and the
token the preview showed, so it acts on exactly the devices the page named.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping
from pydantic import ValidationError

from cloud.admin_center.action_card import CANCELLABLE
from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.routes_devices import FILTERS
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.action_bulk import BulkActionRequest, BulkSelection, DeviceFilter
from cloud.contract.actions import (
    ActionListQuery,
    ActionRequest,
    ActionState,
    catalogue,
)
from cloud.service import routes_actions
from cloud.service.routes_action_scripts import script_out
from cloud.store import actions as store
from cloud.store import scripts as script_store

pages = Pages()
PAGE_SIZE = 50


def _require_operator(visit: Visit) -> None:
    if not visit.can_change:
        raise PageError(
            403, "Not allowed", "Only an operator or an admin of the tenant may do this."
        )


def _spec(fields: MultiMapping[Any]) -> dict[str, Any]:
    """The action a form asks for (kind, and the script or the delay it needs)."""
    kind = str(fields.get("kind", ""))
    spec: dict[str, Any] = {"kind": kind}
    if kind == "runScript":
        spec["scriptId"] = str(fields.get("script", ""))
    if kind == "restart":
        spec["delayMinutes"] = str(fields.get("delay", "") or "5")
    return spec


def _invalid(exc: ValidationError) -> PageError:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "form"
    return PageError(400, "Not a valid action", f"{where}: {first['msg']}.")


@pages.page("POST", "/devices/{deviceId}/actions")
async def request_action(visit: Visit) -> web.StreamResponse:
    """Ask for an action on the device through the API's handler; back to the device."""
    _require_operator(visit)
    device_id = visit.request.match_info["deviceId"]
    form = await visit.request.post()
    try:
        body = ActionRequest.model_validate({"deviceId": device_id, "action": _spec(form)})
    except ValidationError as exc:
        raise _invalid(exc) from None
    await visit.api(routes_actions.request_action, body)
    raise web.HTTPSeeOther(f"/devices/{device_id}#actions")


def _back(value: object) -> str:
    """A local page to return to (anything else: the actions list)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return "/actions"


@pages.page("POST", "/actions/{actionId}/cancel")
async def cancel_action(visit: Visit) -> web.StreamResponse:
    """Cancel an action that has not started, through the API's handler; back where it was."""
    _require_operator(visit)
    form = await visit.request.post()
    await visit.api(routes_actions.cancel_action)
    raise web.HTTPSeeOther(_back(form.get("back")))


@pages.page("GET", "/actions", nav=NavEntry("Actions", order=20))
async def actions(visit: Visit) -> web.StreamResponse:
    """The tenant's actions, newest first: by state or bulk request, in keyset pages."""
    request = visit.request
    wanted = {k: request.query[k] for k in ("state", "bulk") if request.query.get(k)}
    try:
        query = ActionListQuery(
            state=wanted.get("state"),
            bulk_id=wanted.get("bulk"),
            top=PAGE_SIZE,
            skiptoken=request.query.get("after") or None,
        )
    except ValidationError:
        raise PageError(400, "Not a valid filter", "That state or bulk id is not valid.") from None
    async with visit.state.engine.begin() as conn:
        await store.expire_overdue(conn, visit.tenant_id, visit.state.clock())
        try:
            rows, token = await store.list_actions(conn, visit.tenant_id, query)
        except store.BadSkipToken:
            raise PageError(400, "Not a valid page", "That page link is not valid.") from None
    return visit.render(
        "actions.html",
        items=[store.action_out(r) for r in rows],
        states=[s.value for s in ActionState],
        wanted=wanted,
        next_url=f"/actions?{urlencode({**wanted, 'after': token})}" if token else None,
        first_url=f"/actions?{urlencode(wanted)}" if query.skiptoken else None,
        cancellable=CANCELLABLE,
        back=request.path_qs,
    )


def _filter(fields: MultiMapping[Any]) -> tuple[dict[str, str], DeviceFilter]:
    """The device list's filters a form or link carries (its field names), as a DeviceFilter."""
    given = {k: str(fields[k]).strip() for k in FILTERS if str(fields.get(k, "")).strip()}
    data: dict[str, Any] = {FILTERS[k]: v for k, v in given.items()}
    if "last_active_before" in data and len(data["last_active_before"]) == 10:
        data["last_active_before"] += "T00:00:00Z"  # a date input: midnight UTC
    try:
        return given, DeviceFilter.model_validate(data)
    except ValidationError:
        raise PageError(400, "Not a valid filter", "The device filter is not valid.") from None


@pages.page("GET", "/actions/bulk")
async def bulk_preview(visit: Visit) -> web.StreamResponse:
    """Choose an action for the devices of the list's filter, and see how many it reaches."""
    _require_operator(visit)
    query = visit.request.query
    given, device_filter = _filter(query)
    preview = None
    spec = _spec(query) if query.get("kind") else None
    if spec is not None:
        try:
            selection = BulkSelection.model_validate({"filter": device_filter, "action": spec})
        except ValidationError as exc:
            raise _invalid(exc) from None
        preview = await visit.api(routes_actions.preview_bulk_action, selection)
    async with visit.state.engine.connect() as conn:
        scripts = await script_store.list_scripts(conn, visit.tenant_id, include_retired=False)
    return visit.render(
        "actions_bulk.html",
        given=given,
        filter_query=urlencode(given),
        catalogue=catalogue(),
        scripts=[script_out(s) for s in scripts],
        spec=spec or {},
        preview=preview,
    )


@pages.page("POST", "/actions/bulk")
async def bulk_request(visit: Visit) -> web.StreamResponse:
    """Queue the confirmed bulk action through the API's handler; to its actions."""
    _require_operator(visit)
    form = await visit.request.post()
    _, device_filter = _filter(form)
    try:
        body = BulkActionRequest.model_validate(
            {
                "filter": device_filter,
                "action": _spec(form),
                "expectedCount": form.get("expected_count"),
                "confirmToken": form.get("confirm_token") or None,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    created = await visit.api(routes_actions.request_bulk_action, body)
    raise web.HTTPSeeOther(f"/actions?{urlencode({'bulk': created.bulk_id})}")
