"""The cloud client: a round trip against the real service, error translation, retries.

Retry behaviour is checked against a small scripted HTTP server of the test's
own, which records when each request arrived: waits are measured on the
server's clock between requests, not by timing the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import io
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from aiohttp import web

from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import (
    CloudApiError,
    CloudAuthError,
    CloudTlsError,
    CloudUnavailable,
    retry_after_seconds,
)
from cloud.contract import tls
from cloud.contract.admin import Role
from cloud.contract.attach import ConnectorStatus, Heartbeat, HierarchyRegistration
from cloud.contract.devices import DeviceQuery
from cloud.pki import create_service_root
from tests.support.cloud_service import RunningService, new_key_and_csr, start_service
from tests.support.store_records import batch, record

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]
ACK = {"serverTime": "2026-11-01T09:00:00Z", "lastAppliedSequence": 7}
# A valid EnrollRequest for the scripted server (it never looks at the CSR).
ENROLL = ("attach-code-1", "-----BEGIN CERTIFICATE REQUEST-----" + "A" * 64, "H-PS1", "PS1")


def error(status: int, code: str, headers: dict[str, str] | None = None) -> Responder:
    """An answer with the service's JSON error body."""

    async def respond(request: web.Request) -> web.StreamResponse:
        body = {"error": {"code": code, "message": f"scripted {code}"}}
        return web.json_response(body, status=status, headers=headers)

    return respond


def ok(body: object = ACK) -> Responder:
    """A 200 with a JSON body."""

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(body)

    return respond


async def cut_off(request: web.Request) -> web.StreamResponse:
    """Headers promising 200 bytes, 14 of them, then the connection is dropped."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 200
    await response.prepare(request)
    await response.write(b'{"serverTime":')
    assert request.transport is not None
    request.transport.abort()
    return response


@dataclass
class Seen:
    """A request as the scripted server received it."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    """A local HTTP server answering each request with the next step of `script`."""

    url: str = ""
    script: list[Responder] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request and play the next step (the last one repeats)."""
        self.seen.append(
            Seen(
                time.monotonic(),
                request.method,
                request.path,
                dict(request.headers),
                await request.read(),
            )
        )
        step = self.script[min(len(self.seen), len(self.script)) - 1]
        return await step(request)

    async def slow(self, request: web.Request) -> web.StreamResponse:
        """Answer only when the test ends (far beyond any client timeout)."""
        await self.release.wait()
        return web.json_response(ACK)

    def connector(self, **settings: object) -> ConnectorClient:
        """A connector client of this server (plain HTTP) on both listeners."""
        return ConnectorClient(self.url, self.url, **self._options(settings))

    def admin(self, **settings: object) -> AdminClient:
        """An admin client of this server (plain HTTP) on both listeners."""
        return AdminClient(self.url, self.url, **self._options(settings))

    @staticmethod
    def _options(settings: dict[str, object]) -> dict:
        return {"ca_pem": b"", "allow_http": True, "max_wait": 0.01, **settings}


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[Scripted]:
    """A scripted server on an ephemeral loopback port."""
    server = Scripted()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    # Bodies are recorded as sent (no decompression), to check the client's gzip.
    runner = web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=1,
        auto_decompress=False,
    )
    await runner.setup()
    server.runner = runner
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Against the real service.


async def _enrolled(
    service: RunningService, admin: AdminClient, hierarchy_id: str = "H-PS1"
) -> tuple[ConnectorClient, bytes, bytes]:
    """A connector client enrolled with `admin`'s attach code; (client, chain PEM, key PEM)."""
    code = await admin.create_attach_code(hierarchy_id=hierarchy_id)
    key_pem, csr = new_key_and_csr()
    async with ConnectorClient(None, service.connector_url, ca_pem=service.root_pem) as anonymous:
        enrolled = await anonymous.enroll(code.code, csr, hierarchy_id, "PS1", "1.2.3")
    chain = (enrolled.certificate_pem + enrolled.ca_chain_pem).encode()
    return anonymous.with_certificate(chain, key_pem), chain, key_pem


@pytest.mark.asyncio
async def test_round_trip_through_the_client(service: RunningService) -> None:
    tenant_id, token = await service.tenant_with_admin("contoso")
    # The connector asks the API listener when it knows it (as the runner builds its client).
    async with ConnectorClient(
        service.api_url, service.connector_url, ca_pem=service.root_pem
    ) as probe:
        assert (await probe.healthz()).status == "ok"
    async with AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token) as admin:
        me = await admin.me()
        assert (me.tenant.tenant_id, me.principal.role) == (tenant_id, Role.ADMIN)
        async with (await _enrolled(service, admin))[0] as connector:
            registered = await connector.register_hierarchy(
                HierarchyRegistration(hierarchy_id="H-PS1", site_code="ps1", site_name="Contoso")
            )
            assert (registered.site_code, registered.connector_version) == ("PS1", "unknown")
            beat = await connector.heartbeat(
                Heartbeat(connector_version="1.2.3", status=ConnectorStatus(site_devices=3))
            )
            assert (beat.last_applied_sequence, beat.detached) == (None, False)
            upload = batch("H-PS1", 1, [record(1), record(2), record(3, name="SRV00003")])
            ack = await connector.ingest(upload)
            assert (ack.batch_id, ack.upserted, ack.replayed) == (upload.batch_id, 3, False)
            replay = await connector.ingest(upload, compress=False)
            assert (replay.upserted, replay.replayed) == (3, True)
            beat = await connector.heartbeat(Heartbeat(status=ConnectorStatus(site_devices=3)))
            assert beat.last_applied_sequence == 1
            assert connector.stats.calls == 5
            assert connector.stats.retries == 0
        [hierarchy] = await admin.list_hierarchies()
        assert (hierarchy.device_count, hierarchy.status) == (3, {"siteDevices": 3})
        [enrolled] = await admin.list_connectors()
        assert enrolled.hierarchy_id == "H-PS1"
        assert enrolled.revoked_at is None

        page = await admin.list_devices(DeviceQuery(top=2, count=True, select=["deviceName"]))
        assert page.count == 3
        assert page.next_link is not None
        assert [d["deviceName"] for d in page.value] == ["SRV00003", "WKS00001"]
        assert set(page.value[0]) == {"id", "deviceName"}
        names = [d["deviceName"] async for d in admin.iter_devices(DeviceQuery(top=1))]
        assert names == ["SRV00003", "WKS00001", "WKS00002"]
        detail = await admin.device(str(page.value[1]["id"]))
        assert detail.device.device_name == "WKS00001"
        assert [c.collection_id for c in detail.collections] == ["SMS00001"]
        assert [e.kind for e in detail.history] == ["created"]

        query = DeviceQuery(name_starts_with="WKS", select=["deviceName", "siteCode"])
        text = "".join([chunk async for chunk in admin.export_devices_csv(query)])
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["id", "deviceName", "siteCode"]
        assert [r[1:] for r in rows[1:]] == [["WKS00001", "PS1"], ["WKS00002", "PS1"]]


@pytest.mark.asyncio
async def test_error_bodies_become_cloud_api_errors(service: RunningService) -> None:
    tenant_id, token = await service.tenant_with_admin("fabrikam")
    admin = AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token)
    connector = ConnectorClient(None, service.connector_url, ca_pem=service.root_pem)
    async with admin, connector:
        code = await admin.create_attach_code()
        _, csr = new_key_and_csr()
        first = await connector.enroll(code.code, csr, "H-PS1", "PS1")
        # The same key again is a lost answer asked for again: the same certificate.
        again = await connector.enroll(code.code, csr, "H-PS1", "PS1")
        assert again.certificate_pem == first.certificate_pem
        with pytest.raises(CloudAuthError) as spent:
            await connector.enroll(code.code, new_key_and_csr()[1], "H-PS1", "PS1")
        assert (spent.value.status, spent.value.code) == (403, "attach_code_invalid")
        assert code.code not in str(spent.value)
        with pytest.raises(CloudAuthError) as anonymous:
            await connector.heartbeat(Heartbeat())
        assert (anonymous.value.status, anonymous.value.code) == (401, "certificate_required")
        with pytest.raises(CloudApiError) as missing:
            await admin.device("no-such-device")
        assert (missing.value.status, missing.value.code) == (404, "not_found")
        assert not isinstance(missing.value, CloudAuthError)
        with pytest.raises(CloudApiError) as bad_query:
            await admin.list_devices(DeviceQuery(orderby="serialNumber"))
        assert bad_query.value.code == "invalid_query"
        # Seven calls in all: four of the connector's, three of the admin's.
        assert (connector.stats.calls, admin.stats.calls) == (4, 3)
        assert connector.stats.retries == admin.stats.retries == 0

    viewer = await service.token_for(tenant_id, "viewer-1", Role.VIEWER)
    async with AdminClient(service.api_url, None, ca_pem=service.root_pem, token=viewer) as reader:
        with pytest.raises(CloudAuthError) as refused:
            await reader.create_attach_code()
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
    wrong = "cbt_" + "x" * 40
    async with AdminClient(service.api_url, None, ca_pem=service.root_pem, token=wrong) as bad:
        with pytest.raises(CloudAuthError) as invalid:
            await bad.me()
        assert invalid.value.code == "invalid_token"
        assert wrong not in str(invalid.value)
        assert wrong not in repr(invalid.value)


@pytest.mark.asyncio
async def test_a_revoked_connector_is_refused(service: RunningService) -> None:
    _, token = await service.tenant_with_admin("revoked")
    admin = AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token)
    async with admin, (await _enrolled(service, admin))[0] as connector:
        await connector.register_hierarchy(
            HierarchyRegistration(hierarchy_id="H-PS1", site_code="PS1")
        )
        [enrolled] = await admin.list_connectors()
        await admin.revoke_connector(enrolled.connector_id)
        with pytest.raises(CloudAuthError) as revoked:
            await connector.heartbeat(Heartbeat())
        assert revoked.value.code == "certificate_revoked"
        assert revoked.value.hint
        assert "enroll" in revoked.value.hint


@pytest.mark.asyncio
async def test_the_client_rides_through_the_services_rate_limit(
    store_urls: tuple[sa.URL, sa.URL], tmp_path: Path
) -> None:
    # 60 per minute: a burst of 60, then one per second, answered 429 with Retry-After: 1.
    running = start_service(store_urls, tmp_path, connector_rate_per_minute=60)
    async with contextlib.aclosing(running):
        service = await anext(running)
        _, token = await service.tenant_with_admin("busy")
        async with AdminClient(
            service.api_url, None, ca_pem=service.root_pem, token=token
        ) as admin:
            connector, chain, key_pem = await _enrolled(service, admin)
        async with connector:
            await connector.register_hierarchy(
                HierarchyRegistration(hierarchy_id="H-PS1", site_code="PS1")
            )
            # Spend the rest of the burst with calls that pass authentication, then fail.
            drain = service.session(
                ssl_context=tls.client_context(service.root_pem, chain, key_pem)
            )
            url = f"{service.connector_url}/connector/v1/heartbeat"
            for _ in range(100):
                async with drain.post(url, json={"status": 1}) as answer:
                    if answer.status == 429:
                        break
            else:
                pytest.fail("the service never throttled the connector")
            await connector.heartbeat(Heartbeat())
        last = connector.stats.last
        assert last is not None
        assert last.operation == "heartbeat"
        assert (last.attempts, last.throttled, last.waited) == (2, 1, 1.0)
        assert last.failures == ["HTTP 429 rate_limited"]
        assert connector.stats.throttled == 1


# Against closed ports and the scripted server.


@pytest.mark.asyncio
async def test_an_unreachable_service_gives_cloud_unavailable_after_every_attempt() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    client = ConnectorClient(None, url, ca_pem=b"", allow_http=True, max_attempts=3, max_wait=0.01)
    async with client:
        with pytest.raises(CloudUnavailable) as unreachable:
            await client.heartbeat(Heartbeat())
        # Enrollment may repeat an attempt that never connected.
        with pytest.raises(CloudUnavailable):
            await client.enroll(*ENROLL)
    assert unreachable.value.attempts == 3
    assert url in str(unreachable.value)
    assert "3 x could not connect" in str(unreachable.value)
    assert client.stats.attempts == 6
    assert client.stats.waited <= 4 * 0.01


@pytest.mark.asyncio
async def test_an_untrusted_service_certificate_is_not_retried(scripted: Scripted) -> None:
    now = datetime.now(UTC)
    impostor = create_service_root(now, common_name="impostor")
    site = web.TCPSite(
        scripted.runner,
        "127.0.0.1",
        0,
        ssl_context=tls.server_context(impostor.cert_pem, impostor.key_pem, client_ca_pem=None),
    )
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    trusted = create_service_root(now).cert_pem
    async with ConnectorClient(None, f"https://127.0.0.1:{port}", ca_pem=trusted) as client:
        with pytest.raises(CloudTlsError):
            await client.heartbeat(Heartbeat())
    assert client.stats.attempts == 1
    assert scripted.seen == []


@pytest.mark.asyncio
async def test_429_waits_what_retry_after_says(scripted: Scripted) -> None:
    scripted.script = [error(429, "rate_limited", {"Retry-After": "1"}), ok()]
    async with scripted.connector(max_wait=5) as client:
        ack = await client.heartbeat(Heartbeat())
    assert ack.last_applied_sequence == 7
    first, second = scripted.seen
    assert second.at - first.at >= 0.9
    assert client.stats.last is not None
    assert (client.stats.last.attempts, client.stats.last.waited) == (2, 1.0)
    assert client.stats.throttled == 1


@pytest.mark.asyncio
async def test_retry_after_is_capped_by_max_wait(scripted: Scripted) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    scripted.script = [error(503, "unavailable", {"Retry-After": later}), ok()]
    async with scripted.connector(max_wait=0.2) as client:
        await client.heartbeat(Heartbeat())
    assert client.stats.waited == 0.2
    first, second = scripted.seen
    assert second.at - first.at >= 0.15


@pytest.mark.asyncio
async def test_503_twice_then_success_takes_three_attempts(scripted: Scripted) -> None:
    scripted.script = [error(503, "unavailable"), error(503, "unavailable"), ok()]
    async with scripted.connector(token="admin-token") as client:
        await client.heartbeat(Heartbeat())
    assert len(scripted.seen) == 3
    assert client.stats.attempts == 3
    assert {(s.method, s.path) for s in scripted.seen} == {("POST", "/connector/v1/heartbeat")}
    # The bearer token is for the API listener only.
    assert not any("Authorization" in s.headers for s in scripted.seen)


@pytest.mark.asyncio
async def test_a_busy_service_gives_cloud_unavailable_with_its_last_answer(
    scripted: Scripted,
) -> None:
    scripted.script = [error(502, "bad_gateway")]
    async with scripted.admin(max_attempts=4) as client:
        with pytest.raises(CloudUnavailable) as busy:
            await client.list_hierarchies()
    assert (busy.value.attempts, busy.value.status, busy.value.api_code) == (4, 502, "bad_gateway")
    assert len(scripted.seen) == 4


@pytest.mark.asyncio
async def test_400_is_not_retried(scripted: Scripted) -> None:
    scripted.script = [error(400, "invalid_body"), ok()]
    async with scripted.connector() as client:
        with pytest.raises(CloudApiError) as refused:
            await client.heartbeat(Heartbeat())
    assert (refused.value.status, refused.value.code) == (400, "invalid_body")
    assert len(scripted.seen) == 1


@pytest.mark.asyncio
async def test_a_non_json_error_gets_an_http_code(scripted: Scripted) -> None:
    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(status=401, text="<html>sign in</html>", content_type="text/html")

    scripted.script = [html]
    async with scripted.admin(token="secret-token-value") as client:
        with pytest.raises(CloudAuthError) as refused:
            await client.me()
    assert (refused.value.status, refused.value.code) == (401, "http_401")
    assert "<html>" not in str(refused.value)
    assert "secret-token-value" not in str(refused.value)
    assert scripted.seen[0].headers["Authorization"] == "Bearer secret-token-value"


@pytest.mark.asyncio
async def test_enroll_is_not_retried_once_sent(scripted: Scripted) -> None:
    scripted.script = [error(503, "unavailable"), ok()]
    async with scripted.connector() as client:
        with pytest.raises(CloudUnavailable) as busy:
            await client.enroll(*ENROLL)
    assert (busy.value.attempts, busy.value.status) == (1, 503)
    assert len(scripted.seen) == 1


@pytest.mark.asyncio
async def test_a_connection_reset_mid_response_is_retried_when_idempotent(
    scripted: Scripted,
) -> None:
    scripted.script = [cut_off, ok()]
    async with scripted.connector() as client:
        ack = await client.heartbeat(Heartbeat())
    assert ack.last_applied_sequence == 7
    assert len(scripted.seen) == 2
    assert client.stats.attempts == 2
    assert client.stats.last is not None
    assert client.stats.last.failures[0].startswith("answer cut off (ClientPayloadError")


@pytest.mark.asyncio
async def test_a_connection_reset_mid_response_is_not_retried_for_enroll(
    scripted: Scripted,
) -> None:
    scripted.script = [cut_off, ok()]
    async with scripted.connector() as client:
        with pytest.raises(CloudUnavailable) as cut:
            await client.enroll(*ENROLL)
    assert cut.value.attempts == 1
    assert len(scripted.seen) == 1


@pytest.mark.asyncio
async def test_a_slow_answer_times_out_and_is_retried(scripted: Scripted) -> None:
    scripted.script = [scripted.slow]
    async with scripted.connector(timeout=0.3, max_attempts=2) as client:
        with pytest.raises(CloudUnavailable) as slow:
            await client.heartbeat(Heartbeat())
    assert slow.value.attempts == 2
    assert len(scripted.seen) == 2
    assert "timeout 0.3 s" in str(slow.value)


@pytest.mark.asyncio
async def test_ingest_sends_the_batch_gzip_compressed(scripted: Scripted) -> None:
    upload = batch("H-PS1", 4, [record(1)])
    ack = {
        "batchId": str(upload.batch_id),
        "sequence": 4,
        "upserted": 1,
        "unchanged": 0,
        "tombstoned": 0,
        "stale": 0,
        "receivedAt": "2026-11-01T09:00:00Z",
    }
    scripted.script = [ok(ack)]
    async with scripted.connector() as client:
        assert (await client.ingest(upload)).upserted == 1
        await client.ingest(upload, compress=False)
    compressed, plain = scripted.seen
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    wire = upload.model_dump_json(by_alias=True).encode()
    assert gzip.decompress(compressed.body) == plain.body == wire
    # No timestamp in the gzip header (bytes 4-8): the same batch, the same bytes.
    assert compressed.body[4:8] == bytes(4)
    assert json.loads(plain.body)["batchId"] == str(upload.batch_id)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 1, 9, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Sun, 01 Nov 2026 09:00:30 GMT", now) == 30
    assert retry_after_seconds("Sun, 01 Nov 2026 08:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("-5", now) is None
    assert retry_after_seconds(None, now) is None


def test_plain_http_needs_to_be_allowed() -> None:
    with pytest.raises(ValueError, match="https"):
        ConnectorClient(None, "http://127.0.0.1:1", ca_pem=b"")
