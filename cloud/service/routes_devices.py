"""Device API: the list (filters, sort, select, keyset paging), CSV export, detail."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from pydantic import Field

from cloud.contract.admin import Role
from cloud.contract.devices import DeviceDetail, DevicePage, DeviceQuery
from cloud.contract.naming import CamelModel
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import audit
from cloud.service.state import ServiceState
from cloud.store.device_queries import QueryError, device_detail, list_devices, stream_devices_csv
from cloud.store.linking import enroll_mdm_device

api = Api()
VIEW = {"auth": "admin", "listener": "admin", "role": Role.VIEWER, "tags": ("devices",)}


def _next_link(call: Call, skiptoken: str) -> str:
    params = [(k, v) for k, v in call.request.query.items() if k != "$skiptoken"]
    params.append(("$skiptoken", skiptoken))
    return f"{call.request.url.with_query(None)}?{urlencode(params)}"


@api.route("GET", "/api/v1/devices", query=DeviceQuery, response=DevicePage, **VIEW)
async def devices(call: Call) -> dict[str, object]:
    """Devices of the tenant: filter, sort, select fields, page with @odata.nextLink."""
    try:
        async with call.state.engine.connect() as conn:
            result = await list_devices(conn, call.tenant_id, call.query)
    except QueryError as exc:
        raise ApiError("invalid_query", exc.message) from None
    # As Graph does: the link and the count appear only when there is one.
    page: dict[str, object] = {"value": result.items}
    if result.next_skiptoken:
        page["@odata.nextLink"] = _next_link(call, result.next_skiptoken)
    if result.count is not None:
        page["@odata.count"] = result.count
    return page


@api.route("GET", "/api/v1/devices/export", query=DeviceQuery, produces="text/csv", **VIEW)
async def export_devices(call: Call) -> web.StreamResponse:
    """The filtered device list as CSV, streamed (memory does not grow with the tenant)."""
    return await csv_export(call.request, call.state, call.tenant_id, call.query)


async def csv_export(
    request: web.Request, state: ServiceState, tenant_id: str, query: DeviceQuery
) -> web.StreamResponse:
    """Stream the tenant's devices matching `query` as CSV (the API's and the pages' export)."""
    rows = stream_devices_csv(state.engine, tenant_id, query)
    try:
        first = await anext(rows)
    except QueryError as exc:
        raise ApiError("invalid_query", exc.message) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="devices.csv"',
        }
    )
    await response.prepare(request)
    await response.write(first.encode())
    async for chunk in rows:
        await response.write(chunk.encode())
    await response.write_eof()
    return response


@api.route("GET", "/api/v1/devices/{deviceId}", response=DeviceDetail, **VIEW)
async def device(call: Call) -> DeviceDetail:
    """One device with its collections and sync history."""
    async with call.state.engine.connect() as conn:
        detail = await device_detail(conn, call.tenant_id, call.param("deviceId"))
    if detail is None:
        raise ApiError("not_found", "no such device in this tenant")
    return detail


class MdmEnrollment(CamelModel):
    """A device enrolled in the tenant over MDM (as the MDM service records it)."""

    azure_ad_device_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )
    device_name: str = Field(min_length=1, max_length=255)
    os_version: str | None = Field(default=None, max_length=64)


class MdmEnrollmentResult(CamelModel):
    """Where the enrollment landed: linked to an attached device, a new device, or disputed."""

    id: str
    outcome: str


@api.route(
    "POST",
    "/api/v1/managedDevices",
    role=Role.OPERATOR,
    body=MdmEnrollment,
    response=MdmEnrollmentResult,
    status=201,
    tags=("devices",),
    auth="admin",
    listener="admin",
)
async def record_mdm_enrollment(call: Call) -> MdmEnrollmentResult:
    """Record an MDM enrollment; it links to the attached device with the same AADDeviceID."""
    body: MdmEnrollment = call.body
    async with call.state.engine.begin() as conn:
        device_id, outcome = await enroll_mdm_device(
            conn,
            call.tenant_id,
            aad_device_id=body.azure_ad_device_id,
            device_name=body.device_name,
            os_version=body.os_version,
            now=call.state.clock(),
        )
        await audit(conn, call, "device.mdm_enroll", device_id, {"outcome": outcome})
    return MdmEnrollmentResult(id=device_id, outcome=outcome)
