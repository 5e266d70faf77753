"""The aiohttp applications of the tenant server and how they are served.

`build_apps` makes the admin/API application (the service's API routes and
the admin center's pages) and the connector application over one state;
`running` serves both over HTTPS while its context is open, with a background
task that purges detached hierarchies after their retention and expired
admin center sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Literal

from aiohttp import web

from cloud import admin_center
from cloud.contract import tls
from cloud.service.api import OPENAPI_KEY, STATE_KEY, Endpoint
from cloud.service.error_middleware import error_middleware
from cloud.service.openapi import openapi_document
from cloud.service.registry import all_endpoints, service_apis
from cloud.service.routes_system import service_version
from cloud.service.state import ServiceState
from cloud.store.attach import purge_detached
from cloud.store.web_sessions import purge_sessions

log = logging.getLogger("cobridge.cloud")


def _app(
    state: ServiceState, listener: Literal["admin", "connector"], endpoints: list[Endpoint]
) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware], client_max_size=state.settings.max_body_mb * 1024 * 1024
    )
    app[STATE_KEY] = state
    app[OPENAPI_KEY] = openapi_document(endpoints, service_version())
    for api in service_apis():
        api.install(app, listener)
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
