"""What every request handler shares: the store, the keys, the clock, the metrics.

Built once by `open_state` (the composition of the service): it migrates the
store, loads or creates the master key, the service root CA and the server
certificate. Keys live sealed in the store, so every worker over the same
database shares them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud import pki
from cloud.contract.secret_box import SecretBox, load_or_create_master_key, master_key_from_env
from cloud.service.ratelimit import RateLimiter
from cloud.service.settings import CloudSettings
from cloud.store.dialect import insert_for
from cloud.store.engine import create_store_engine, migrate_store, store_urls
from cloud.store.schema import service_secrets

# Names (and sealing purposes) of the service keys in service_secrets.
ROOT_KEY_NAME = "service-root"
SERVER_KEY_NAME = "server-tls"


def utc_now() -> datetime:
    """Now, as the store keeps times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Metrics:
    """Prometheus metrics of one service instance (its own registry)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "cobridge_http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cobridge_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
        )
        self.ingested = Counter(
            "cobridge_ingest_items_total",
            "Inventory items applied",
            ["kind"],
            registry=self.registry,
        )
        self.batches = Counter(
            "cobridge_ingest_batches_total",
            "Inventory batches",
            ["outcome"],
            registry=self.registry,
        )


@dataclass
class ServiceState:
    """The shared state of the service."""

    settings: CloudSettings
    engine: AsyncEngine
    box: SecretBox
    root: pki.CertAndKey
    server: pki.CertAndKey
    clock: Callable[[], datetime] = utc_now
    metrics: Metrics = field(default_factory=Metrics)
    limiter: RateLimiter | None = None

    @property
    def root_pem(self) -> str:
        """The service root CA, which connectors and admins trust."""
        return self.root.cert_pem.decode()


def _load_or_create(
    conn: sa.Connection, box: SecretBox, name: str, make: Callable[[], pki.CertAndKey]
) -> pki.CertAndKey:
    row = conn.execute(sa.select(service_secrets).where(service_secrets.c.name == name)).first()
    if row is None:
        made = make()
        stmt = insert_for(conn, service_secrets).values(  # type: ignore[arg-type]
            name=name,
            public_pem=made.cert_pem.decode(),
            sealed_key=box.seal(made.key_pem, purpose=name),
            created_at=utc_now(),
        )
        # Two workers starting together: the first one's keys win for both.
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        row = conn.execute(sa.select(service_secrets).where(service_secrets.c.name == name)).one()
    return pki.CertAndKey(
        cert=pki.load_cert(row.public_pem.encode()),
        key=pki.load_key(box.open(row.sealed_key, purpose=name)),
    )


def _server_names(settings: CloudSettings) -> tuple[list[str], list[str]]:
    names = list(dict.fromkeys([*settings.server_names, socket.gethostname()]))
    ips = [n for n in names if n.replace(".", "").isdigit() or ":" in n]
    return [n for n in names if n not in ips], ips


def _master_key(settings: CloudSettings) -> bytes:
    if settings.master_key is not None:
        return master_key_from_env(settings.master_key.get_secret_value())
    return load_or_create_master_key(settings.data_dir / "master.key")


def prepare_store(
    settings: CloudSettings,
) -> tuple[sa.URL, SecretBox, pki.CertAndKey, pki.CertAndKey]:
    """Migrate the store and load (or create) the service keys; synchronous, before serving."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    sync_url, async_url = store_urls(settings.db, settings.data_dir)
    migrate_store(sync_url)
    _private(sync_url)
    box = SecretBox(_master_key(settings))
    engine = sa.create_engine(sync_url)
    try:
        with engine.begin() as conn:
            root = _load_or_create(
                conn, box, ROOT_KEY_NAME, lambda: pki.create_service_root(utc_now())
            )
            dns, ips = _server_names(settings)
            server = _load_or_create(
                conn,
                box,
                SERVER_KEY_NAME,
                lambda: pki.issue_server_certificate(root, dns, ips, utc_now()),
            )
            if server.cert.not_valid_after_utc.replace(tzinfo=None) < utc_now() + timedelta(
                days=30
            ):
                conn.execute(
                    service_secrets.delete().where(service_secrets.c.name == SERVER_KEY_NAME)
                )
                server = _load_or_create(
                    conn,
                    box,
                    SERVER_KEY_NAME,
                    lambda: pki.issue_server_certificate(root, dns, ips, utc_now()),
                )
    finally:
        engine.dispose()
    (settings.data_dir / "service-root.pem").write_bytes(root.cert_pem)
    return async_url, box, root, server


def _private(url: sa.URL) -> None:
    # The embedded store holds sealed keys and token digests: owner only.
    if url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-shm"):
            path = Path(url.database + suffix)
            if path.exists():
                path.chmod(0o600)


def open_state(settings: CloudSettings, *, clock: Callable[[], datetime] = utc_now) -> ServiceState:
    """Compose the service: store, keys, limiter, metrics."""
    async_url, box, root, server = prepare_store(settings)
    if settings.tls_cert_file and settings.tls_key_file:
        server = pki.CertAndKey(
            cert=pki.load_cert(Path(settings.tls_cert_file).read_bytes()),
            key=pki.load_key(Path(settings.tls_key_file).read_bytes()),
        )
    limiter = (
        RateLimiter(settings.connector_rate_per_minute)
        if settings.connector_rate_per_minute
        else None
    )
    return ServiceState(
        settings=settings,
        engine=create_store_engine(async_url),
        box=box,
        root=root,
        server=server,
        clock=clock,
        limiter=limiter,
    )
