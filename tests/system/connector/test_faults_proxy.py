"""The connector through a fault-injecting proxy: throttling, 5xx, resets, timeouts, slow bodies.

The service and the connector run as processes; the proxy (tests.support.fault_proxy)
sits between them, ending the connector's TLS with a certificate of a test CA
the connector trusts, and presenting the connector's own client certificate
upstream. It answers 429 and 503 with `Retry-After`, 500, resets connections
before and after forwarding, holds requests and then drops them (a timeout as
the client sees it), and dribbles answers. A full sync and a delta cycle must
still end with the tenant exactly equal to the site, every batch applied once,
and no request retried sooner than its `Retry-After` allowed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from cloud import pki
from cloud.contract import tls
from tests.support.fault_proxy import FaultPlan, FaultProxy, identity_files
from tests.support.fault_proxy_plan import FAULTS
from tests.support.system_processes import ServiceProcess
from tests.support.system_setup import running_system
from tests.support.system_sites import touch

# Enrollment spends a single-use code and registration happens once at start:
# both pass. Then one of each fault for certain, then about one request in three.
SCRIPT = ("pass", "pass", "429", "503", "reset", "reset_after", "timeout", "slow_body", "500")
ODDS = {
    "429": 0.08,
    "500": 0.03,
    "503": 0.06,
    "reset": 0.05,
    "reset_after": 0.05,
    "timeout": 0.02,
    "slow_body": 0.06,
}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cycles_through_a_faulty_network_end_exact(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    proxy_ca = pki.create_service_root(now)
    proxy_cert = pki.issue_server_certificate(proxy_ca, ["localhost"], ["127.0.0.1"], now)
    trust = tmp_path / "proxy-ca.pem"
    trust.write_bytes(proxy_ca.cert_pem)
    with running_system(tmp_path, devices=2000, seed_value=23) as system:
        plan = FaultPlan(seed=5, script=SCRIPT, probabilities=ODDS, retry_after=1, hold_seconds=2)
        proxy = FaultProxy(
            system.service.connector_url,
            server_cert_pem=proxy_cert.cert_pem,
            server_key_pem=proxy_cert.key_pem,
            upstream_ca_pem=system.service.root_pem,
            client_identity=identity_files(
                system.connector_dir / "connector.pem", system.connector_dir / "connector.key"
            ),
            plan=plan,
        )
        with proxy:
            system.configure(connector_url=proxy.url, ca_file=trust)
            connector = system.connector()
            try:
                full = connector.wait_ok_cycle()
                assert full["message"] == "cycle full: ok", full
                system.check("after the full sync through the proxy")
                cycles = len(connector.cycles())
                modified, added, deleted = touch(system.site_db, 400, 77)
                delta = connector.wait_ok_cycle(after=cycles + 1)
                assert delta["message"] == "cycle delta: ok", delta
                devices, ledger = system.check("after a delta cycle through the proxy")
                assert connector.terminate() == 0, connector.tail()
            finally:
                connector.kill9()
        counts = proxy.log.counts()
        outcomes = [c["message"] for c in connector.cycles()]
    assert proxy.log.retry_after_violations(match="request") == []
    assert all(counts[kind] >= 1 for kind in FAULTS), counts
    assert (modified, deleted) == (400, 20)
    assert added > 0
    print(
        f"\nthrough the proxy: {dict(counts)}; cycles {outcomes}; tenant {devices} devices, "
        f"{ledger.applied} batches applied once, {ledger.replayed} answered as replays"
    )


@pytest.mark.timeout(60)
def test_serve_on_a_fresh_data_dir_answers_on_loopback(tmp_path: Path) -> None:
    async def health(url: str, root_pem: bytes) -> int:
        context = tls.client_context(root_pem)
        connector = aiohttp.TCPConnector(ssl=context)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"{url}/healthz") as response,
        ):
            return response.status

    # The README's default: no --server-name, and `serve` the first command on a
    # new store (its certificate once named the host name alone).
    with ServiceProcess(tmp_path / "cloud") as service:
        assert asyncio.run(health(service.api_url, service.root_pem.read_bytes())) == 200
