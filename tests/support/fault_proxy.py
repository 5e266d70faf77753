"""A TLS-terminating HTTP proxy that injects faults, for tests and benchmarks.

A TCP relay cannot answer 429 inside mutual TLS, so this proxy ends the
client's TLS and sends each request on over TLS of its own, trusting
`upstream_ca_pem` and presenting the client certificate `client_identity()`
returns at the time (None before enrollment). Bodies stay raw bytes: gzip stays gzip.

`FaultPlan` (in `tests.support.fault_proxy_plan`) decides what happens to each
request; `proxy.log` records it. The proxy runs on an event loop of its own
in a background thread, so a synchronous test can point a connector running
as a separate process at `proxy.url`:

    with FaultProxy(service_url, server_cert_pem=cert, server_key_pem=key,
                    upstream_ca_pem=root, client_identity=identity_files(chain, key_file),
                    plan=FaultPlan(seed=7, probabilities={"429": 0.1})) as proxy:
        run_connector(cloud_url=proxy.url)
    assert proxy.log.retry_after_violations() == []
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Self

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from cloud.contract import tls
from cloud.contract.errors import ErrorBody, ErrorDetail
from tests.support.fault_proxy_plan import (
    BEFORE_FORWARDING,
    WRITE_METHODS,
    FaultPlan,
    LogEntry,
    ProxyLog,
    RateLimit,
)

__all__ = ["FaultPlan", "FaultProxy", "RateLimit", "identity_files"]

Pem = bytes | str | os.PathLike[str]  # PEM itself, or a file holding it
Identity = tuple[bytes, bytes] | None
# Hop-by-hop headers (RFC 9110 7.6.1), and those aiohttp sets afresh for the new message.
_HOP_BY_HOP = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
_PROXY = {"proxy-connection", "proxy-authenticate", "proxy-authorization"}
_DROPPED = frozenset(_HOP_BY_HOP | _PROXY | {"host", "content-length"})
_ERRORS = {"429": "rate_limited", "500": "internal_error", "503": "unavailable"}


class _Answer(NamedTuple):
    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes


def identity_files(chain_path: Path, key_path: Path) -> Callable[[], Identity]:
    """A `client_identity` reading the connector's chain and key files, None until both exist."""

    def read() -> Identity:
        if not (chain_path.is_file() and key_path.is_file()):
            return None
        return chain_path.read_bytes(), key_path.read_bytes()

    return read


class FaultProxy:
    """An HTTPS proxy in front of `upstream_url` applying `plan` to every request (see module)."""

    def __init__(
        self,
        upstream_url: str,
        *,
        server_cert_pem: Pem,
        server_key_pem: Pem,
        upstream_ca_pem: Pem,
        client_identity: Callable[[], Identity] = lambda: None,
        plan: FaultPlan | RateLimit | None = None,
        upstream_timeout: float = 60.0,
        max_body_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self._upstream = upstream_url.rstrip("/")
        server_pem, key_pem = _pem(server_cert_pem), _pem(server_key_pem)
        self._server_tls = tls.server_context(server_pem, key_pem, client_ca_pem=None)
        self._ca_pem = _pem(upstream_ca_pem)
        self._client_identity = client_identity
        plan = FaultPlan(rate_limit=plan) if isinstance(plan, RateLimit) else plan
        self.plan = plan or FaultPlan()
        self.log = ProxyLog(self.plan.rate_limit)
        self._timeout = upstream_timeout
        self._max_body = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        self._identity: Identity = None
        self._retired: list[aiohttp.ClientSession] = []
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """The proxy's base URL (`https://127.0.0.1:PORT`), once started."""
        if not self._port:
            raise RuntimeError("the proxy is not running")
        return f"https://127.0.0.1:{self._port}"

    def start(self) -> Self:
        """Listen on an ephemeral loopback port, serving from a background thread."""
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        try:
            self._port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, close the upstream sessions and the loop; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop, self._thread, self._port = None, None, 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self) -> int:
        app = web.Application(client_max_size=self._max_body)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Raw request bodies; a request whose client gave up is cancelled, not finished.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            auto_decompress=False,
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._server_tls)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        for session in [*self._retired, self._session]:
            if session is not None:
                await session.close()
        self._session, self._retired = None, []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        entry = self.log.begin(
            time.monotonic(), request.method, request.path, f"{peer[0]}:{peer[1]}" if peer else "?"
        )
        action = "pending"
        try:
            body = await request.read()
            self.log.finish(entry, body_digest=hashlib.sha256(body).hexdigest()[:16])
            action = self.plan.decide(request.method, request.path)
            return await self._act(request, entry, action, body)
        finally:
            # Also when cancelled: a client that gave up still leaves its entry.
            if entry.answered is None:
                self.log.finish(entry, action=action, answered=time.monotonic())

    async def _act(
        self, request: web.Request, entry: LogEntry, action: str, body: bytes
    ) -> web.StreamResponse:
        plan = self.plan
        if action in _ERRORS:
            wait = plan.retry_after if action in ("429", "503") else None
            message = f"injected fault {action}"
            return self._error(entry, action, int(action), _ERRORS[action], message, wait)
        if action in BEFORE_FORWARDING:
            if action == "timeout":
                await asyncio.sleep(plan.hold_seconds)
            return self._drop(request, entry, action)
        if plan.rate_limit is not None and request.method in WRITE_METHODS:
            wait = plan.rate_limit.admit(entry.received)
            if wait:
                limit = plan.rate_limit
                message = f"over {limit.writes} writes per {limit.per_seconds:g} s; wait {wait} s"
                return self._error(entry, "throttled", 429, "throttled", message, wait)
            self.log.finish(entry, admitted=True)
        try:
            answer = await self._forward(request, body)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            message = f"the upstream did not answer: {type(exc).__name__}: {exc}"
            return self._error(entry, "upstream_error", 502, "bad_gateway", message, None)
        self.log.finish(entry, upstream_status=answer.status)
        if action == "reset_after":
            return self._drop(request, entry, action)
        if action == "slow_body":
            return await self._dribble(request, entry, answer)
        self.log.finish(entry, action="forwarded", status=answer.status, answered=time.monotonic())
        return web.Response(
            status=answer.status, reason=answer.reason, headers=answer.headers, body=answer.body
        )

    async def _dribble(
        self, request: web.Request, entry: LogEntry, answer: _Answer
    ) -> web.StreamResponse:
        """The upstream's answer in small chunks with pauses; Content-Length announces it all."""
        chunk, body = self.plan.slow_chunk_bytes, answer.body
        response = web.StreamResponse(
            status=answer.status, reason=answer.reason, headers=answer.headers
        )
        response.content_length = len(body)
        await response.prepare(request)
        for start in range(0, len(body), chunk):
            await response.write(body[start : start + chunk])
            await asyncio.sleep(self.plan.slow_chunk_delay)
        await response.write_eof()
        self.log.finish(entry, action="slow_body", status=answer.status, answered=time.monotonic())
        return response

    def _error(
        self, entry: LogEntry, action: str, status: int, code: str, message: str, wait: int | None
    ) -> web.Response:
        body = ErrorBody(error=ErrorDetail(code=code, message=message))
        headers = {"Retry-After": str(wait)} if wait is not None else None
        self.log.finish(
            entry, action=action, status=status, retry_after=wait, answered=time.monotonic()
        )
        return web.json_response(
            body.model_dump(mode="json", exclude_none=True), status=status, headers=headers
        )

    def _drop(self, request: web.Request, entry: LogEntry, action: str) -> web.Response:
        # No close_notify, no answer: the client sees the connection die.
        if request.transport is not None:
            request.transport.abort()
        self.log.finish(entry, action=action, answered=time.monotonic())
        return web.Response(status=499)

    async def _forward(self, request: web.Request, body: bytes) -> _Answer:
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED
        )
        session = self._upstream_session()
        async with session.request(
            request.method,
            URL(self._upstream + request.raw_path, encoded=True),
            data=body or None,
            headers=headers,
            allow_redirects=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        ) as response:
            answer = await response.read()
            kept = CIMultiDict(
                (k, v) for k, v in response.headers.items() if k.lower() not in _DROPPED
            )
            return _Answer(response.status, response.reason or "", kept, answer)

    def _upstream_session(self) -> aiohttp.ClientSession:
        identity = self._client_identity()
        if self._session is not None and identity == self._identity:
            return self._session
        context: object = False
        if self._upstream.startswith("https:"):
            context = tls.client_context(self._ca_pem, *(identity or (None, None)))
        if self._session is not None:
            # Requests may still be in flight on the old session: close it at stop.
            self._retired.append(self._session)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=0),  # type: ignore[arg-type]
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )
        self._identity = identity
        return self._session


def _pem(value: Pem) -> bytes:
    """PEM bytes as given, or the contents of a file path."""
    return value if isinstance(value, bytes) else Path(value).read_bytes()
