"""Small servers for the installer's failing checks: an HTTPS server with a skewed clock.

`skewed_https_server` answers every request 200 over TLS (a certificate for
127.0.0.1 from a CA of its own, written to a PEM file), with a `Date` header
`skew` away from this host's clock: the clock-skew check must fail against
it while the TLS check passes. `other_ca` writes a CA that issued nothing
the service presents (untrusted TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

from cloud.contract.tls import server_context
from cloud.pki import create_service_root, issue_server_certificate, to_pem


def other_ca(path: Path) -> Path:
    """A CA certificate (PEM) that issued nothing the service presents."""
    path.write_bytes(to_pem(create_service_root(datetime.now(UTC), common_name="elsewhere").cert))
    return path


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def skewed_https_server(directory: Path, skew: timedelta) -> Iterator[tuple[str, Path]]:
    """(https URL, CA file) of a server whose clock is `skew` off ours, until the block ends."""
    now = datetime.now(UTC)
    root = create_service_root(now, common_name="skewed test CA")
    leaf = issue_server_certificate(root, [], ["127.0.0.1"], now)
    ca_file = directory / "skewed-ca.pem"
    ca_file.write_bytes(to_pem(root.cert))
    context = server_context(to_pem(leaf.cert), leaf.key_pem, client_ca_pem=None)

    async def answer(_request: web.Request) -> web.Response:
        date = format_datetime(datetime.now(UTC) + skew, usegmt=True)
        return web.json_response({"status": "ok"}, headers={"Date": date})

    app = web.Application()
    app.router.add_get("/healthz", answer)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}", ca_file
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
