"""Health, metrics and the OpenAPI document (both listeners, no authentication)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cloud.contract.system import Health
from cloud.service.api import OPENAPI_KEY, Api, Call
from cloud.service.errors import ApiError

api = Api()
PUBLIC = {"auth": "public", "listener": "both", "tags": ("system",)}


def service_version() -> str:
    """The installed version of cobridge."""
    try:
        return version("cobridge")
    except PackageNotFoundError:
        return "0+unknown"


@api.route("GET", "/healthz", response=Health, **PUBLIC)
async def healthz(call: Call) -> Health:
    """Liveness and readiness: the store answers."""
    try:
        async with call.state.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any store failure means not ready
        raise ApiError("unavailable", f"the store is not answering: {type(exc).__name__}") from None
    return Health(status="ok", store="ok", version=service_version())


@api.route("GET", "/metrics", produces="text/plain", **PUBLIC)
async def metrics(call: Call) -> web.Response:
    """Prometheus metrics of this worker."""
    body = generate_latest(call.state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@api.route("GET", "/openapi.json", **PUBLIC)
async def openapi(call: Call) -> dict[str, object]:
    """This API's OpenAPI 3.1 document."""
    return call.request.app[OPENAPI_KEY]
