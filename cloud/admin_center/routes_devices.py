"""The devices pages: the list (search, filters, sort, keyset paging, counts, CSV) and detail.

The list is the API's device query (`DeviceQuery`, `list_devices`): the page
only translates its form to that query. Paging is keyset, like the API's:
"next" carries the API's page token, and the tokens of the pages before ride
along in the URL (`trail`), so "previous" is exact without any offset. The
detail's co-management authority is the API's
`GET /api/v1/devices/{id}/authority` (the same `device_authority`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from cloud.admin_center.action_card import actions_card
from cloud.admin_center.count_cache import COUNTS_KEY
from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.authority_views import DeviceAuthorityOut
from cloud.contract.devices import DeviceQuery, ManagedBy
from cloud.service.routes_devices import csv_export
from cloud.store.authority_reads import HOLDS_FOR_SITE, LACKS_GRANT, device_authority
from cloud.store.device_queries import QueryError, count_devices, device_detail, list_devices
from cloud.store.directory import no_agent_count
from workloads import flags
from workloads.catalog import ALL_WORKLOADS, Holder

pages = Pages()
PAGE_SIZE = 50
MAX_TRAIL = 40  # pages "previous" can step back through; beyond that, "first page"
# Form field -> DeviceQuery field (the API's filters, by their page names).
FILTERS = {
    "q": "name_contains",
    "os": "operating_system",
    "build": "os_build",
    "managed": "managed_by",
    "site": "site_code",
    "collection": "collection_id",
    "health": "client_health",
    "active": "client_active",
    "inactive_since": "last_active_before",
}
# Sortable columns as the page shows them: (sort field, heading).
COLUMNS = (
    ("deviceName", "Name"),
    ("operatingSystem", "OS"),
    ("osBuild", "Build"),
    ("managedBy", "Managed by"),
    ("siteCode", "Site"),
    ("lastActiveDateTime", "Last active"),
    ("clientHealth", "Client health"),
    ("coManagementFlags", "Flags"),
)
_SORTS = {field for field, _ in COLUMNS}
# How the detail names each side, and the service's own conflicts.
HOLDERS = {Holder.CONFIGMGR: "Site", Holder.CLOUD: "Cloud"}
GATE_CONFLICTS = {
    HOLDS_FOR_SITE: "the cloud gate holds a grant, yet the record says the site holds",
    LACKS_GRANT: "the record says the cloud holds at this epoch, yet the cloud gate has no grant",
}


def _filters(request: web.Request) -> dict[str, str]:
    """The filter fields the form sent, blanks left out."""
    return {k: request.query[k].strip() for k in FILTERS if request.query.get(k, "").strip()}


def _query(filters: dict[str, str], sort: str, descending: bool, **paging: Any) -> DeviceQuery:
    data: dict[str, Any] = {FILTERS[k]: v for k, v in filters.items()}
    if "last_active_before" in data and len(data["last_active_before"]) == 10:
        data["last_active_before"] += "T00:00:00Z"  # a date input: midnight UTC
    data["orderby"] = f"{sort} {'desc' if descending else 'asc'}"
    return DeviceQuery.model_validate({**data, **paging})


def _sort(request: web.Request) -> tuple[str, bool]:
    sort = request.query.get("sort", "deviceName")
    return (sort if sort in _SORTS else "deviceName"), request.query.get("dir") == "desc"


def _problem(exc: ValidationError | QueryError) -> str:
    if isinstance(exc, QueryError):
        return exc.message
    names = {v: k for k, v in FILTERS.items()}
    first = exc.errors(include_url=False)[0]
    field = names.get(str(first["loc"][0]), str(first["loc"][0])) if first["loc"] else "form"
    return f"The filter {field!r} is not valid: {first['msg']}."


@pages.page("GET", "/devices", nav=NavEntry("Devices", order=10))
async def devices(visit: Visit) -> web.StreamResponse:
    """The tenant's devices: search, filters, sortable columns, keyset pages, counts."""
    request = visit.request
    filters = _filters(request)
    sort, descending = _sort(request)
    token = request.query.get("after") or None
    trail = [t for t in request.query.get("trail", "").split(".") if t]
    try:
        number = max(1, int(request.query.get("page", "1")))
    except ValueError:
        number = 1
    if token is None:
        number, trail = 1, []
    base = {**filters, "sort": sort, "dir": "desc" if descending else "asc"}
    context: dict[str, Any] = {
        "filters": filters,
        "sort": sort,
        "descending": descending,
        "columns": COLUMNS,
        "managed_values": [m.value for m in ManagedBy],
        "base_query": urlencode(base),
        "filter_query": urlencode(filters),
        "export_query": urlencode(base),
        "items": [],
        "count": None,
        "count_age": 0,
        "error": None,
        "next_url": None,
        "prev_url": None,
        "first_url": None,
        "first_index": 0,
        "no_agent": 0,
    }
    try:
        query = _query(filters, sort, descending, top=PAGE_SIZE, skiptoken=token)
        async with visit.state.engine.connect() as conn:
            result = await list_devices(conn, visit.tenant_id, query)

            async def count() -> int:
                return await count_devices(conn, visit.tenant_id, query)

            async def no_agent() -> int:
                return await no_agent_count(conn, visit.tenant_id)

            # One count per tenant and filter every half minute (see count_cache).
            key = (visit.tenant_id, tuple(sorted(filters.items())))
            counted = await visit.request.app[COUNTS_KEY].get(key, count)
            # Domain computers the site does not manage, counted as rarely.
            unmanaged = await visit.request.app[COUNTS_KEY].get(
                (visit.tenant_id, "no_agent"), no_agent
            )
    except (ValidationError, QueryError) as exc:
        context["error"] = _problem(exc)
        return visit.render("devices.html", status=400, **context)
    context.update(items=result.items, count=counted.value, count_age=round(counted.age))
    context["no_agent"] = unmanaged.value
    context["first_index"] = (number - 1) * PAGE_SIZE + 1 if result.items else 0
    if result.next_skiptoken:
        ahead = ([*trail, token] if token else [])[-MAX_TRAIL:]
        context["next_url"] = "/devices?" + urlencode(
            {**base, "after": result.next_skiptoken, "page": number + 1, "trail": ".".join(ahead)}
        )
    if number > 1:
        context["first_url"] = "/devices?" + urlencode(base)
        if number == 2:
            context["prev_url"] = context["first_url"]
        elif trail:
            context["prev_url"] = "/devices?" + urlencode(
                {**base, "after": trail[-1], "page": number - 1, "trail": ".".join(trail[:-1])}
            )
    return visit.render("devices.html", **context)


@pages.page("GET", "/devices/export.csv")
async def export(visit: Visit) -> web.StreamResponse:
    """The filtered, sorted list as CSV: the API's export, under the session's tenant."""
    sort, descending = _sort(visit.request)
    try:
        query = _query(_filters(visit.request), sort, descending)
    except ValidationError as exc:
        raise PageError(400, "Cannot export", _problem(exc)) from None
    return await csv_export(visit.request, visit.state, visit.tenant_id, query)


@pages.page("GET", "/devices/{deviceId}")
async def device(visit: Visit) -> web.StreamResponse:
    """One device: properties, identity keys, collections, client health, authority, sync history."""
    device_id = visit.request.match_info["deviceId"]
    detail = None
    authority: DeviceAuthorityOut | None = None
    if "\x00" not in device_id and len(device_id) <= 64:
        async with visit.state.engine.connect() as conn:
            detail = await device_detail(conn, visit.tenant_id, device_id)
            if detail is not None:
                authority = await device_authority(conn, visit.tenant_id, device_id)
    if detail is None or authority is None:
        raise PageError(404, "No such device", "This tenant has no device with that id.")
    return visit.render(
        "device.html",
        detail=detail,
        d=detail.device,
        flags=_flags(detail.device.co_management_flags),
        authority=authority,
        never_handed_off=_never_handed_off(authority),
        holders=HOLDERS,
        gate_conflicts=GATE_CONFLICTS,
        actions=await actions_card(visit, detail.device),
    )


def _never_handed_off(authority: DeviceAuthorityOut) -> bool:
    """Whether no connector reported any of the device's records (all still the initial ones)."""
    return authority.smsid is not None and all(w.reported_at is None for w in authority.value)


def _flags(value: int | None) -> dict[str, Any] | None:
    """The device-reported flags integer, decoded: the cloud's workloads and unknown bits."""
    if value is None or value < 0:
        return None
    cloud = flags.decode(value)
    return {
        "configured": flags.is_configured(value),
        "cloud": [w.display_name for w in ALL_WORKLOADS if w in cloud],
        "unknown": flags.unknown_bits(value),
    }
