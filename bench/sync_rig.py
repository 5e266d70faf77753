"""What B1, B2 and B6 share: a tenant store, the service in a process of its own, tenants,
enrolled connectors, their settings, and one connector run as a measurement.

The service runs in a spawned process over HTTPS (as `cobridge cloud serve`
does); the connector runs inside the measuring child process, composed by
`ConnectorRunner` exactly as `cobridge connector run --once` composes it, so
the child's peak RSS is the connector's. Enrollment happens in a warm-up, so
a timed run only registers the hierarchy and syncs. The tenant store is
PostgreSQL when COBRIDGE_BENCH_PG_URL names a server, else SQLite.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from bench.measure import Measurement
from bridge.runtime.enrollment import enroll
from bridge.runtime.observability import configure_logging
from bridge.runtime.runner import VERSION, ConnectorRunner
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState, SyncRun
from bridge.tenant.connector import ConnectorClient
from cloud.contract.admin import Role
from cloud.server.app import running
from cloud.service import bootstrap
from cloud.service.settings import CloudSettings
from cloud.service.state import open_state
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_store import SiteIdentity

PG_ENV = "COBRIDGE_BENCH_PG_URL"
T = TypeVar("T")


def in_child(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a spawned process: preparation (seeding, site changes) stays out of ours.

    A spawned child's peak RSS starts at its parent's (Linux keeps the
    high-water mark across fork and exec), so the process that spawns the
    measurements must stay small.
    """
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def env_int(name: str, default: int) -> int:
    """A size option from the environment (`COBRIDGE_BENCH_...`), else `default`."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def fresh_dir(path: Path) -> Path:
    """`path`, emptied (benchmarks start from nothing but the cached site)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path.resolve()


def fresh_pg_database(name: str) -> str | None:
    """A new, empty PostgreSQL database `name` (dropped first), or None when not configured."""
    base = os.environ.get(PG_ENV)
    if not base:
        return None
    url = sa.make_url(base).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def cloud_settings(base: Path, db_name: str, **extra: object) -> CloudSettings:
    """Settings of a fresh service under `base`: PostgreSQL store `db_name` when configured."""
    return CloudSettings(
        data_dir=fresh_dir(base / "cloud"),
        db=fresh_pg_database(db_name),
        port=0,
        connector_port=0,
        **extra,  # type: ignore[arg-type]
    )


def backend(settings: CloudSettings) -> str:
    """The tenant store's backend, for titles."""
    return "PostgreSQL" if settings.db else "SQLite"


@dataclass(frozen=True)
class Tenant:
    """A tenant made for a benchmark: an admin token and one-time attach codes."""

    tenant_id: str
    token: str
    codes: tuple[str, ...]


def create_tenant(settings: CloudSettings, name: str, codes: int = 1) -> Tenant:
    """A tenant with an admin, a token and `codes` attach codes, made in the store directly."""

    async def work() -> Tenant:
        state = open_state(settings)
        try:
            tenant_id = await bootstrap.create_tenant(state, name)
            await bootstrap.create_admin(state, tenant_id, f"{name}-admin", Role.ADMIN)
            _, token = await bootstrap.create_token(state, tenant_id, f"{name}-admin", 1)
            made = [
                await bootstrap.create_attach_code(state, tenant_id, 4, None) for _ in range(codes)
            ]
            return Tenant(tenant_id, token, tuple(made))
        finally:
            await state.engine.dispose()

    return asyncio.run(work())


def _serve(
    settings: CloudSettings, ports: multiprocessing.Queue, stop: multiprocessing.Event
) -> None:
    async def main() -> None:
        async with running(open_state(settings)) as pair:
            ports.put(pair)
            while not stop.is_set():
                await asyncio.sleep(0.1)

    asyncio.run(main())


@dataclass(frozen=True)
class Service:
    """A running service: its two listeners and the root its clients trust."""

    api_url: str
    connector_url: str
    ca_file: Path

    @property
    def ca_pem(self) -> bytes:
        """The certificate the service's TLS chains to."""
        return self.ca_file.read_bytes()


@contextmanager
def serving(settings: CloudSettings, ca_file: Path | None = None) -> Iterator[Service]:
    """The service in a spawned process while open (its own CPU and memory, as in production).

    `ca_file` is what clients trust: the service root unless the service was
    given a certificate of its own.
    """
    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=_serve, args=(settings, ports, stop))
    process.start()
    try:
        api, connector = ports.get(timeout=120)
        yield Service(
            f"https://127.0.0.1:{api}",
            f"https://127.0.0.1:{connector}",
            ca_file or settings.data_dir / "service-root.pem",
        )
    finally:
        stop.set()
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()


def site_identity(site: Path) -> SiteIdentity:
    """The embedded site's identity (site code and the hierarchy it records)."""
    engine = create_site_engine(f"sqlite:///{site}")
    try:
        return SiteReader(engine).check()
    finally:
        engine.dispose()


def enroll_identity(data_dir: Path, service: Service, code: str, site: SiteIdentity) -> None:
    """Warm-up: spend an attach code for a connector identity kept in `data_dir`."""

    async def work() -> None:
        async with ConnectorClient(None, service.connector_url, ca_pem=service.ca_pem) as anonymous:
            await enroll(
                anonymous,
                data_dir,
                attach_code=code,
                hierarchy_id=site.hierarchy_id or "bench",
                site_code=site.site_code or "XXX",
                version=VERSION,
            )

    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    asyncio.run(work())


def write_config(
    path: Path,
    *,
    data_dir: Path,
    site: Path,
    service: Service,
    connector_url: str | None = None,
    log_level: str = "error",
    **sync: object,
) -> Path:
    """The connector's TOML settings; `sync` overrides keys of `[sync]` (defaults otherwise)."""
    lines = "".join(f"{key} = {value}\n" for key, value in sync.items())
    path.write_text(
        f'data_dir = "{data_dir}"\n\n[site]\ndb = "{site}"\n\n'
        f'[cloud]\nconnector_url = "{connector_url or service.connector_url}"\n'
        f'api_url = "{service.api_url}"\nca_file = "{service.ca_file}"\n\n'
        f'[sync]\n{lines}\n[observability]\nmetrics_port = 0\nlog_level = "{log_level}"\n'
    )
    path.chmod(0o600)
    return path


def connector_once(config: str) -> int:
    """One connector run (`cobridge connector run --once`); devices sent (upserts and deletes).

    Runs in the measuring child. A cycle that did not end "ok" is an error.
    """
    settings = ConnectorSettings.load(Path(config))
    configure_logging(settings.observability.log_level)
    runner = ConnectorRunner(settings)
    code = asyncio.run(runner.run(once=True))
    report = runner.last_report
    if code != 0 or report is None:
        raise RuntimeError(f"the connector cycle failed: {report.error if report else code}")
    return report.counts.get("uploads", 0) + report.counts.get("deletes_sent", 0)


def last_cycle(data_dir: Path) -> SyncRun:
    """The connector's latest cycle record (what `cobridge status --json` shows as last_cycle)."""
    with ConnectorState.open(None, data_dir=data_dir) as state:
        run = state.runs.latest()
    if run is None or run.outcome != "ok":
        raise RuntimeError(f"no successful cycle recorded in {data_dir}: {run}")
    return run


def cycle_measurement(label: str, process: Measurement, run: SyncRun) -> Measurement:
    """The cycle's own duration (from its record) with the connector process's peak RSS."""
    seconds = run.counts.get("seconds_ms", 0) / 1000 or process.seconds
    return Measurement(label, seconds, process.items, process.peak_rss_mb)


def verdict(met: bool) -> str:
    """How a target line ends."""
    return "met" if met else "NOT met"
