"""The fault proxy over real TLS: a mutual-TLS upstream of the test's own, then the real service.

The upstream records what reached it (and the client certificate the proxy presented), so
each fault is checked from both sides: what the client got, and what the upstream saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.x509.oid import NameOID
from yarl import URL

from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from cloud import pki
from cloud.contract import tls
from cloud.contract.attach import Heartbeat, HierarchyRegistration
from cloud.contract.devices import DeviceQuery
from cloud.store.engine import migrate_store, store_urls
from tests.support.cloud_service import RunningService, new_key_and_csr, start_service
from tests.support.fault_proxy import FaultPlan, FaultProxy, Identity, RateLimit, identity_files
from tests.support.store_records import batch, record

Plan = FaultPlan | RateLimit | None
Who = Callable[[], Identity]
GZIPPED = gzip.compress(b'{"devices": [1, 2, 3]}' * 20, mtime=0)


@dataclass(frozen=True)
class Keys:
    """A test CA, a server certificate for 127.0.0.1 and a connector's chain and key."""

    root: pki.CertAndKey
    server: pki.CertAndKey
    chain: bytes
    key: bytes


@pytest.fixture(scope="module")
def keys() -> Keys:
    """Keys for the module: issuing them costs more than the tests using them."""
    now = datetime.now(UTC)
    root = pki.create_service_root(now)
    tenant_ca = pki.create_tenant_ca(root, "t1", now)
    key_pem, csr = new_key_and_csr()
    ids = {"tenant_id": "t1", "hierarchy_id": "H-PS1", "connector_id": "c1"}
    request = pki.validate_csr(csr.encode())
    leaf = pki.issue_connector_certificate(tenant_ca, request, now=now, **ids)
    server = pki.issue_server_certificate(root, ["localhost"], ["127.0.0.1"], now)
    return Keys(root, server, pki.to_pem(leaf) + tenant_ca.cert_pem, key_pem)


@dataclass
class Upstream:
    """What reached the upstream: (method, path with query, headers, body, client CN)."""

    url: str = ""
    seen: list[tuple[str, str, dict[str, str], bytes, str | None]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request; answer gzip bytes as they are, or a small JSON echo."""
        cert = tls.peer_certificate(request.transport)
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value if cert else None
        body = await request.read()
        self.seen.append((request.method, request.raw_path, dict(request.headers), body, str(cn)))
        if request.path.endswith("/gzip"):
            headers = {"Content-Encoding": "gzip", "X-Upstream": "yes"}
            return web.Response(status=201, body=GZIPPED, headers=headers)
        return web.json_response({"path": request.path, "n": len(self.seen), "pad": "x" * 100})


@pytest_asyncio.fixture
async def upstream(keys: Keys) -> AsyncIterator[Upstream]:
    """An upstream over TLS that asks for a client certificate chaining to the test root."""
    server = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None, auto_decompress=False)
    await runner.setup()
    context = tls.server_context(
        keys.server.cert_pem, keys.server.key_pem, client_ca_pem=keys.root.cert_pem
    )
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    server.url = f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield server
    await runner.cleanup()


def proxy_to(url: str, server: pki.CertAndKey, ca: bytes, plan: Plan, who: Who) -> FaultProxy:
    """A proxy before `url` presenting `server` to clients and `who()` upstream."""
    pems = {"server_cert_pem": server.cert_pem, "server_key_pem": server.key_pem}
    return FaultProxy(url, **pems, upstream_ca_pem=ca, client_identity=who, plan=plan)


def proxy(upstream: Upstream, keys: Keys, plan: Plan = None, who: Who | None = None) -> FaultProxy:
    """A proxy before the test upstream, presenting the connector's identity unless told."""
    who = who or (lambda: (keys.chain, keys.key))
    return proxy_to(upstream.url, keys.server, keys.root.cert_pem, plan, who)


@contextlib.asynccontextmanager
async def client(keys: Keys) -> AsyncIterator[aiohttp.ClientSession]:
    """A session trusting the test root, leaving gzip bodies as they arrive."""
    connector = aiohttp.TCPConnector(ssl=tls.client_context(keys.root.cert_pem))
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        yield session


async def call(session: aiohttp.ClientSession, method: str, url: str) -> tuple[int, dict, bytes]:
    """One request with a small body: (status, headers, body)."""
    async with session.request(method, url, data=b"{}") as answer:
        return answer.status, dict(answer.headers), await answer.read()


@pytest.mark.asyncio
async def test_pass_through_keeps_bytes_headers_and_presents_the_identity(
    upstream: Upstream, keys: Keys, tmp_path: Path
) -> None:
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    with proxy(upstream, keys, who=identity_files(chain, key)) as fp:
        async with client(keys) as session:
            await call(session, "GET", f"{fp.url}/healthz")
            # The connector enrolls: its files appear, and the next request presents them.
            chain.write_bytes(keys.chain)
            key.write_bytes(keys.key)
            headers = {"Content-Encoding": "gzip", "X-Trace": "t-1", "Connection": "keep-alive"}
            url = URL(f"{fp.url}/connector/v1/gzip?since=5&x=%2F", encoded=True)
            async with session.post(url, data=GZIPPED, headers=headers) as answer:
                assert (answer.status, answer.headers["X-Upstream"]) == (201, "yes")
                assert answer.headers["Content-Encoding"] == "gzip"
                assert await answer.read() == GZIPPED
    (_, _, _, _, before), (method, path, sent, body, after) = upstream.seen
    assert (before, after) == ("None", "c1")
    assert (method, path, body) == ("POST", "/connector/v1/gzip?since=5&x=%2F", GZIPPED)
    assert (sent["Content-Encoding"], sent["X-Trace"]) == ("gzip", "t-1")
    logged = [(e.action, e.status, e.peer[:10]) for e in fp.log.entries()]
    assert logged == [("forwarded", 200, "127.0.0.1:"), ("forwarded", 201, "127.0.0.1:")]


@pytest.mark.asyncio
async def test_injected_answers_error_bodies_retry_after_and_slow_bodies(
    upstream: Upstream, keys: Keys
) -> None:
    script = ["429", "503", "500", "slow_body"]
    plan = FaultPlan(script=script, retry_after=3, slow_chunk_bytes=16, slow_chunk_delay=0.02)
    with proxy(upstream, keys, plan) as fp:
        async with client(keys) as session:
            answers = [await call(session, "POST", f"{fp.url}/connector/v1/x") for _ in range(3)]
            started = time.monotonic()
            status, _, body = await call(session, "POST", f"{fp.url}/connector/v1/x")
            # About 130 bytes in chunks of 16, 20 ms apart.
            assert time.monotonic() - started >= 0.1
    assert [a[0] for a in answers] == [429, 503, 500]
    assert [a[1].get("Retry-After") for a in answers] == ["3", "3", None]
    codes = [json.loads(a[2])["error"]["code"] for a in answers]
    assert codes == ["rate_limited", "unavailable", "internal_error"]
    assert (status, json.loads(body)["pad"]) == (200, "x" * 100)
    assert len(upstream.seen) == 1
    assert fp.log.counts() == {"429": 1, "503": 1, "500": 1, "slow_body": 1}


@pytest.mark.asyncio
async def test_resets_and_timeouts_drop_the_connection(upstream: Upstream, keys: Keys) -> None:
    plan = FaultPlan(script=["reset", "reset_after", "timeout"], hold_seconds=0.3)
    with proxy(upstream, keys, plan) as fp:
        async with client(keys) as session:
            for _ in range(3):
                started = time.monotonic()
                # POST: aiohttp itself repeats an idempotent method once after a disconnect.
                with pytest.raises(aiohttp.ClientConnectionError):
                    await call(session, "POST", f"{fp.url}/connector/v1/ingest")
            assert time.monotonic() - started >= 0.3
    # Only reset_after reached the upstream, which answered; the client never saw it.
    assert [s[1] for s in upstream.seen] == ["/connector/v1/ingest"]
    logged = [(e.action, e.status, e.upstream_status) for e in fp.log.entries()]
    assert logged == [("reset", None, None), ("reset_after", None, 200), ("timeout", None, None)]


@pytest.mark.asyncio
async def test_decisions_are_deterministic_per_seed(upstream: Upstream, keys: Keys) -> None:
    odds = {"429": 0.2, "500": 0.1, "503": 0.1}
    preview = FaultPlan(seed=11, probabilities=odds).preview(300)
    assert preview == FaultPlan(seed=11, probabilities=odds).preview(300)
    assert preview != FaultPlan(seed=12, probabilities=odds).preview(300)
    assert 0.5 < preview.count("pass") / 300 < 0.7
    plan = FaultPlan(seed=11, probabilities=odds, methods=["POST"])
    with proxy(upstream, keys, plan) as fp:
        async with client(keys) as session:
            for index in range(30):
                # Requests the plan does not cover draw nothing.
                await call(session, "GET", f"{fp.url}/connector/v1/read")
                await call(session, "POST", f"{fp.url}/{'other' if index % 3 else 'connector'}/")
                await call(session, "POST", f"{fp.url}/connector/v1/write")
    eligible = [e.action for e in fp.log.entries() if e.method == "POST" and e.path != "/other/"]
    assert eligible == [a.replace("pass", "forwarded") for a in preview[:40]]


def test_the_rate_limit_window_slides() -> None:
    limit = RateLimit(writes=2, per_seconds=10)
    # Refused: the whole seconds until the oldest admission leaves the window.
    assert [limit.admit(t) for t in (0, 1, 2.5, 9.9, 10, 10.5, 11)] == [0, 0, 8, 1, 0, 1, 0]
    assert (limit.admitted, limit.throttled) == (4, 3)


@pytest.mark.asyncio
async def test_the_rate_limit_admits_n_writes_per_window(upstream: Upstream, keys: Keys) -> None:
    with proxy(upstream, keys, RateLimit(writes=5, per_seconds=1)) as fp:
        async with client(keys) as session:
            url = f"{fp.url}/connector/v1/ingest"
            first = [await call(session, "POST", url) for _ in range(8)]
            assert (await call(session, "GET", url))[0] == 200
            await asyncio.sleep(float(first[-1][1]["Retry-After"]))
            second = [(await call(session, "POST", url))[0] for _ in range(6)]
    assert [a[0] for a in first] == [200] * 5 + [429] * 3
    assert {a[1]["Retry-After"] for a in first[5:]} == {"1"}
    assert json.loads(first[5][2])["error"]["code"] == "throttled"
    assert second == [200] * 5 + [429]
    stats = fp.log.throttle_stats()
    assert (stats.admitted_writes, stats.throttled, stats.requests) == (10, 4, 15)
    assert (stats.share_429, stats.allowed_rate) == (4 / 15, 5)
    assert stats.admitted_rate <= stats.allowed_rate


@pytest.mark.asyncio
async def test_retry_after_violations_name_early_retries(upstream: Upstream, keys: Keys) -> None:
    with proxy(upstream, keys, FaultPlan(script=["429", "pass", "503", "pass"])) as fp:
        async with client(keys) as session:
            await call(session, "POST", f"{fp.url}/connector/v1/eager")
            await call(session, "POST", f"{fp.url}/connector/v1/eager")
            await call(session, "POST", f"{fp.url}/connector/v1/patient")
            await asyncio.sleep(1.0)
            await call(session, "POST", f"{fp.url}/connector/v1/patient")
    [violation] = fp.log.retry_after_violations()
    assert (violation.answer.path, violation.answer.retry_after) == ("/connector/v1/eager", 1)
    assert violation.waited < 0.5
    assert fp.log.retry_after_violations(tolerance=1.0) == []


def service_proxy(service: RunningService, plan: Plan, identity: list[Identity]) -> FaultProxy:
    """A proxy before the connector listener, presenting `identity[0]` once there is one."""

    def who() -> Identity:
        return identity[0] if identity else None

    return proxy_to(service.connector_url, service.state.server, service.root_pem, plan, who)


@pytest.mark.asyncio
async def test_the_cloud_client_honours_retry_after_through_the_proxy(tmp_path: Path) -> None:
    urls = store_urls(None, tmp_path)
    migrate_store(urls[0])
    running = start_service(urls, tmp_path / "cloud")
    async with contextlib.aclosing(running):
        service = await anext(running)
        _, token = await service.tenant_with_admin("contoso")
        identity: list[Identity] = []
        # enroll; hierarchy 429 then pass; heartbeat 503 then pass; ingest applied but lost, replayed.
        plan = FaultPlan(script=["pass", "429", "pass", "503", "pass", "reset_after", "pass"])
        with service_proxy(service, plan, identity) as fp:
            admin = AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token)
            async with admin, ConnectorClient(None, fp.url, ca_pem=service.root_pem) as anonymous:
                code = await admin.create_attach_code(hierarchy_id="H-PS1")
                key_pem, csr = new_key_and_csr()
                enrolled = await anonymous.enroll(code.code, csr, "H-PS1", "PS1", "1.0")
                chain = (enrolled.certificate_pem + enrolled.ca_chain_pem).encode()
                identity.append((chain, key_pem))
                async with anonymous.with_certificate(*identity[0]) as connector:
                    registration = HierarchyRegistration(hierarchy_id="H-PS1", site_code="PS1")
                    await connector.register_hierarchy(registration)
                    await connector.heartbeat(Heartbeat())
                    ack = await connector.ingest(batch("H-PS1", 1, [record(1), record(2)]))
                assert (ack.upserted, ack.replayed) == (2, True)
                assert (await admin.list_devices(DeviceQuery(count=True))).count == 2
        assert connector.stats.throttled == 2
        assert fp.log.retry_after_violations() == []
        assert fp.log.retry_after_violations(match="request") == []
        actions = ["forwarded", "429", "forwarded", "503", "forwarded", "reset_after", "forwarded"]
        assert [e.action for e in fp.log.entries()] == actions

        # Throttled writes: the fourth heartbeat in a second waits out its Retry-After.
        with service_proxy(service, RateLimit(writes=3, per_seconds=1), identity) as limited:
            anonymous = ConnectorClient(None, limited.url, ca_pem=service.root_pem)
            async with anonymous.with_certificate(chain, key_pem) as connector:
                for _ in range(5):
                    await connector.heartbeat(Heartbeat())
        stats = limited.log.throttle_stats()
        assert (stats.admitted_writes, stats.throttled, connector.stats.throttled) == (5, 1, 1)
        assert limited.log.retry_after_violations() == []
