"""B6: sync through Graph-style throttling, beside a naive client with fixed sleeps.

Targets (DESIGN.md section 14): >= 95% of the allowed write rate used, < 1%
of requests answered 429.

A TLS-terminating proxy (`tests.support.fault_proxy.FaultProxy`) stands between the
client and the service's connector listener and admits at most 200 writes
in any 20 s (10 per second), answering the rest 429 with `Retry-After`. The
service uses a certificate of a CA made here, which the proxy presents too;
the proxy re-presents the client's enrolled certificate upstream. Each
client gets a proxy (and a rate limit) of its own, in the same run:

- the connector's first full sync (`cobridge connector run --once`, enrolled
  in a warm-up straight to the service) with small batches so that the sync
  spans several windows: COBRIDGE_BENCH_B6_DEVICES (default 6,000 seeded
  devices) in batches of COBRIDGE_BENCH_B6_BATCH (default 10);
- a naive client: one request per device, a fixed 0.1 s sleep after each
  (the nominal 10 writes/s), and on a 429 a fixed 1 s sleep and the same
  request again, Retry-After ignored; COBRIDGE_BENCH_B6_NAIVE_DEVICES
  (default 600) devices of the same site.

The figures are the proxy's (`ProxyLog.throttle_stats`): admitted writes per
second over the whole 20 s windows of the busy period, as a share of 10 per
second, and the share of all requests answered 429.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.b1_full_sync import sample_records
from bench.b5_site_read import _seeded
from bench.measure import measure, report
from bench.sync_rig import (
    backend,
    cloud_settings,
    connector_once,
    create_tenant,
    enroll_identity,
    env_int,
    fresh_dir,
    in_child,
    serving,
    site_identity,
    verdict,
    write_config,
)
from bridge.runtime.enrollment import CERT_FILE, KEY_FILE, load_identity
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudUnavailable
from cloud import pki
from cloud.contract.attach import HierarchyRegistration
from cloud.contract.inventory import DeviceRecord, IngestBatch
from tests.support.fault_proxy import FaultProxy, RateLimit, identity_files
from tests.support.fault_proxy_plan import ThrottleStats

WRITES, PER_SECONDS = 200, 20.0
NAIVE_SLEEP = 0.1  # after every request: the nominal 10 writes per second
NAIVE_RETRY_SLEEP = 1.0  # after a 429, whatever its Retry-After says


def naive_paced(records: str, url: str, ca_file: str, identity_dir: str) -> int:
    """The naive client: one device per request, fixed sleeps, Retry-After ignored."""
    identity = load_identity(Path(identity_dir))
    assert identity is not None
    lines = Path(records).read_text().splitlines()
    devices = [DeviceRecord.model_validate_json(line) for line in lines]

    async def main() -> None:
        client = ConnectorClient(
            None,
            url,
            ca_pem=Path(ca_file).read_bytes(),
            cert_chain_pem=identity.chain_pem,
            key_pem=identity.key_pem,
            max_attempts=1,  # its own fixed-sleep retries only
        )
        async with client:
            await client.register_hierarchy(
                HierarchyRegistration(
                    hierarchy_id=identity.hierarchy_id, site_code="PS1", connector_version="naive"
                )
            )
            for sequence, device in enumerate(devices, 1):
                batch = IngestBatch(
                    batch_id=uuid.uuid4(),
                    hierarchy_id=identity.hierarchy_id,
                    sequence=sequence,
                    upserts=[device],
                )
                while True:
                    try:
                        await client.ingest(batch, compress=False)
                        break
                    except CloudUnavailable as failure:
                        if failure.status != 429:
                            raise
                        await asyncio.sleep(NAIVE_RETRY_SLEEP)
                await asyncio.sleep(NAIVE_SLEEP)

    asyncio.run(main())
    return len(devices)


def _tls(base: Path) -> tuple[Path, Path, Path]:
    """A CA of the benchmark's own and a server certificate for 127.0.0.1: (ca, cert, key)."""
    now = datetime.now(UTC)
    ca = pki.create_service_root(now, common_name="cobridge bench CA")
    server = pki.issue_server_certificate(ca, ["localhost"], ["127.0.0.1"], now)
    base.mkdir(parents=True, exist_ok=True)
    files = base / "ca.pem", base / "server.pem", base / "server.key"
    for path, pem in zip(files, (ca.cert_pem, server.cert_pem, server.key_pem), strict=True):
        path.write_bytes(pem)
    return files


def _proxy(upstream: str, tls: tuple[Path, Path, Path], identity_dir: Path) -> FaultProxy:
    ca, cert, key = tls
    return FaultProxy(
        upstream,
        server_cert_pem=cert,
        server_key_pem=key,
        upstream_ca_pem=ca,
        client_identity=identity_files(identity_dir / CERT_FILE, identity_dir / KEY_FILE),
        plan=RateLimit(writes=WRITES, per_seconds=PER_SECONDS),
    )


def _line(label: str, stats: ThrottleStats, violations: int) -> list[str]:
    use, share = stats.utilisation, stats.share_429
    return [
        f"{label}: {stats.requests:,} requests, {stats.admitted_writes:,} writes admitted, "
        f"{stats.answered_429:,} answered 429, busy {stats.busy_seconds:.0f} s, "
        f"{violations} Retry-After violation(s)",
        f"  allowed rate used: {stats.admitted_rate:.2f}/s of {stats.allowed_rate:.0f}/s = "
        f"{use:.1%} (target >= 95%): {verdict(use >= 0.95)}",
        f"  requests answered 429: {share:.2%} (target < 1%): {verdict(share < 0.01)}",
    ]


def run(*, large: bool, data_dir: str) -> None:
    """Run B6 (sizes from COBRIDGE_BENCH_B6_*; --large changes nothing here)."""
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    devices = env_int("COBRIDGE_BENCH_B6_DEVICES", 6000)
    batch = env_int("COBRIDGE_BENCH_B6_BATCH", 10)
    site = root / f"site-{devices}.db"
    in_child(_seeded, f"sqlite:///{site}", devices)
    base = fresh_dir(root / f"b6-{devices}")
    tls = _tls(base / "tls")
    settings = cloud_settings(
        base, f"cobridge_bench_b6_{devices}", tls_cert_file=tls[1], tls_key_file=tls[2]
    )
    tenant, naive_tenant = create_tenant(settings, "b6"), create_tenant(settings, "b6-naive")
    identity = site_identity(site)
    naive_devices = env_int("COBRIDGE_BENCH_B6_NAIVE_DEVICES", 600)
    sample = in_child(sample_records, site, naive_devices, base / "naive.jsonl")
    with serving(settings, ca_file=tls[0]) as service:
        enroll_identity(base / "connector", service, tenant.codes[0], identity)
        enroll_identity(base / "naive", service, naive_tenant.codes[0], identity)
        with _proxy(service.connector_url, tls, base / "connector") as proxy:
            config = write_config(
                base / "connector.toml",
                data_dir=base / "connector",
                site=site,
                service=service,
                connector_url=proxy.url,
                batch_size=batch,
            )
            synced = measure(f"connector, batches of {batch}", connector_once, str(config))
            ours = (
                proxy.log.throttle_stats(),
                len(proxy.log.retry_after_violations(match="request")),
            )
        with _proxy(service.connector_url, tls, base / "naive") as proxy:
            naive = measure(
                f"naive: 1 device/request, {NAIVE_SLEEP:g} s sleeps ({sample:,} sample)",
                naive_paced,
                str(base / "naive.jsonl"),
                proxy.url,
                str(tls[0]),
                str(base / "naive"),
            )
            theirs = (
                proxy.log.throttle_stats(),
                len(proxy.log.retry_after_violations(match="request")),
            )
    report(
        f"B6 throttled sync: {WRITES} writes / {PER_SECONDS:g} s with 429 + Retry-After, "
        f"{devices:,}-device site, {backend(settings)} tenant store (items: devices sent)",
        [synced, naive],
        [*_line("connector", *ours), *_line("naive", *theirs)],
    )
