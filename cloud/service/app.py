"""The aiohttp applications of the service and how they are served.

`build_apps` makes the admin/API application and the connector application
over one state; `serve` runs both over HTTPS until cancelled, with a
background task that purges detached hierarchies after their retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from cloud import admin_center
from cloud.contract import tls
from cloud.service import (
    routes_action_relay,
    routes_action_scripts,
    routes_actions,
    routes_attach,
    routes_authority,
    routes_checkin,
    routes_connector,
    routes_connector_audit,
    routes_connector_devices,
    routes_devices,
    routes_directory,
    routes_held_deletes,
    routes_quarantine,
    routes_rollouts,
    routes_system,
    routes_tenancy,
)
from cloud.service.api import OPENAPI_KEY, ROUTE_KEY, STATE_KEY, Api, Endpoint
from cloud.service.errors import ApiError, error_response
from cloud.service.openapi import openapi_document
from cloud.service.routes_system import service_version
from cloud.service.state import ServiceState
from cloud.store.attach import purge_detached
from cloud.store.web_sessions import purge_sessions

log = logging.getLogger("cobridge.cloud")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# Every route module of the service, in registration order.
APIS: tuple[Api, ...] = (
    routes_system.api,
    routes_tenancy.api,
    routes_attach.api,
    routes_connector.api,
    routes_connector_devices.api,
    routes_devices.api,
    routes_held_deletes.api,
    routes_quarantine.api,
    routes_authority.api,
    routes_checkin.api,
    routes_actions.api,
    routes_action_scripts.api,
    routes_action_relay.api,
    routes_directory.api,
    routes_connector_audit.api,
    routes_rollouts.api,
)


def all_endpoints() -> list[Endpoint]:
    """Every endpoint of the service, from every route module."""
    return [e for api in APIS for e in api.endpoints]


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        return error_response(exc)
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "bad_request")
        message = {
            404: "no such endpoint",
            405: f"{request.method} is not allowed here",
            413: f"the body is larger than the limit of {state.settings.max_body_mb} MiB",
        }.get(exc.status, exc.reason)
        kept = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(ApiError(code, message, headers=kept))
    except (
        aiohttp.http_exceptions.HttpProcessingError,
        aiohttp.client_exceptions.ClientPayloadError,
    ) as exc:
        status = 400
        return error_response(
            ApiError("invalid_body", f"the request body could not be read: {exc}")
        )
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(
            ApiError("internal_error", "an internal error occurred; it has been logged")
        )
    finally:
        route = request.get(ROUTE_KEY, "unmatched")
        state.metrics.requests.labels(route, request.method, str(status)).inc()


def _app(state: ServiceState, listener: str, endpoints: list[Endpoint]) -> web.Application:
    app = web.Application(
        middlewares=[_errors], client_max_size=state.settings.max_body_mb * 1024 * 1024
    )
    app[STATE_KEY] = state
    app[OPENAPI_KEY] = openapi_document(endpoints, service_version())
    for api in APIS:
        api.install(app, listener)  # type: ignore[arg-type]
    if listener == "admin":
        admin_center.install(app)
    return app


def build_apps(state: ServiceState) -> tuple[web.Application, web.Application]:
    """The (admin/API, connector) applications over one shared state."""
    endpoints = all_endpoints()
    return _app(state, "admin", endpoints), _app(state, "connector", endpoints)


async def _purge_loop(state: ServiceState, every: float) -> None:
    while True:
        try:
            async with state.engine.begin() as conn:
                removed = await purge_detached(conn, state.clock())
                sessions = await purge_sessions(conn, state.clock())
            if removed:
                log.info("purged %d devices of detached hierarchies", removed)
            if sessions:
                log.info("purged %d expired admin center sessions", sessions)
        except Exception:
            log.exception("purging detached hierarchies or sessions failed; retrying later")
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def running(  # type: ignore[no-untyped-def]
    state: ServiceState,
    *,
    purge_every: float = 300.0,
    configure: Callable[[web.Application], None] | None = None,
):
    """Serve both listeners over HTTPS while the context is open; yields (api_port, connector_port).

    `configure` may add routes to the admin application before it starts
    (benchmarks add a baseline route on the same server stack).
    """
    settings = state.settings
    admin_app, connector_app = build_apps(state)
    if configure is not None:
        configure(admin_app)
    server_pem, key_pem = state.server.cert_pem, state.server.key_pem
    admin_tls = tls.server_context(server_pem, key_pem, client_ca_pem=None)
    connector_tls = tls.server_context(server_pem, key_pem, client_ca_pem=state.root.cert_pem)
    runners = [
        # Bodies are decompressed by the API layer, which verifies gzip trailers.
        web.AppRunner(app, access_log=None, auto_decompress=False)
        for app in (admin_app, connector_app)
    ]
    ports = []
    purge = asyncio.create_task(_purge_loop(state, purge_every))
    try:
        for runner, port, context in zip(
            runners,
            (settings.port, settings.connector_port),
            (admin_tls, connector_tls),
            strict=True,
        ):
            await runner.setup()
            site = web.TCPSite(runner, settings.host, port, ssl_context=context, backlog=512)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        yield ports[0], ports[1]
    finally:
        purge.cancel()
        for runner in runners:
            await runner.cleanup()
        await state.engine.dispose()
