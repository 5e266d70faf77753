"""`ConnectorRunner`: the connector process, composed from its settings.

Start-up: open the state store and the site reader; enroll with the attach
code unless a certificate is already in the data directory; register the
hierarchy (and raise the batch sequence above what the tenant has applied,
in case the state store is newer than the tenant's history); serve
`/healthz` and `/metrics`; take the uploader lease (a standby waits for it).
Then: a heartbeat every `heartbeat_seconds`, and a sync cycle every
`interval_seconds` (the first one full). On stop (SIGTERM, Ctrl-C) no new
batch is built, the batches in flight get a grace period to be
acknowledged, and whatever is left stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

from bridge.actions.wiring import build_action_relay, relay_running
from bridge.arbiter.cycle import ArbitrationPass, ArbitrationReport
from bridge.audit.upload import AuditUpload, AuditUploadReport
from bridge.directory import (
    DirectoryPass,
    DirectoryPassReport,
    build_directory_pass,
    run_directory_pass,
)
from bridge.directory.upload import DirectoryUpload, DirectoryUploadReport
from bridge.rollout.remote import OrdersReport, RolloutOrders
from bridge.runtime.arbitration import arbitrate, build_arbitration, build_rollout_orders
from bridge.runtime.enrollment import (
    ConnectorIdentity,
    EnrollmentError,
    enroll,
    load_identity,
    renew_if_due,
)
from bridge.runtime.heartbeat import HeartbeatReporter
from bridge.runtime.lease import UploaderLease
from bridge.runtime.observability import ConnectorMetrics, Health, serve_observability
from bridge.runtime.site import site_reader
from bridge.runtime.status import status_report
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from bridge.state.ports import WithSequences
from bridge.sync.engine import CycleReport, SyncEngine, SyncOptions
from bridge.sync.ports import InventorySource
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudApiError, CloudError
from cloud.contract.attach import HierarchyRegistration
from onprem.site_database import create_site_engine
from onprem.site_store import SiteIdentity
from workloads.errors import CobridgeError

log = logging.getLogger("cobridge.connector")

VERSION = "0.1.0"
STOP_GRACE_SECONDS = 30
ONCE_SITE_ATTEMPTS = 3
LEASE_TTL = timedelta(seconds=120)


def utc_now() -> datetime:
    """Now, aware in UTC (the state store hands times out aware, too)."""
    return datetime.now(UTC)


class ConnectorRunner:
    """One connector for one site; `run()` until stopped."""

    def __init__(self, settings: ConnectorSettings, *, version: str = VERSION) -> None:
        self.settings = settings
        self.version = version
        self.metrics = ConnectorMetrics()
        self.metrics_port: int | None = None
        self.stop_event = asyncio.Event()
        self.first_cycle = asyncio.Event()
        self.last_report: CycleReport | None = None
        self.cycles = 0

        self._engine: SyncEngine | None = None
        self._arbitration: ArbitrationPass | None = None
        self.last_arbitration: ArbitrationReport | None = None
        self._directory: DirectoryPass | None = None
        self.last_directory: DirectoryPassReport | None = None
        self._directory_upload: DirectoryUpload | None = None
        self.last_directory_upload: DirectoryUploadReport | None = None
        self._audit_upload: AuditUpload | None = None
        self.last_audit_upload: AuditUploadReport | None = None
        self._rollout_orders: RolloutOrders | None = None
        self.last_rollout_orders: OrdersReport | None = None
        self._uploading = False  # this process held the uploader lease at its last check
        self._state: ConnectorState | None = None
        self._sync_now = asyncio.Event()

    def stop(self) -> None:
        """Ask the connector to stop (safe from a signal handler)."""
        self.stop_event.set()
        if self._engine is not None:
            self._engine.stop()

    def sync_now(self) -> None:
        """Start the next cycle without waiting for the interval."""
        self._sync_now.set()

    async def run(self, *, once: bool = False) -> int:
        """Run until stopped (or one cycle with `once`); the process exit code."""
        settings = self.settings
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        state_db = settings.state.db.get_secret_value() if settings.state.db else None
        state = await asyncio.to_thread(ConnectorState.open, state_db, data_dir=data_dir)
        self._state = state
        lease = UploaderLease(state, LEASE_TTL, clock=utc_now)
        site_engine = create_site_engine(settings.site.url(), must_exist=True)
        reader = site_reader(site_engine, chunk_size=settings.site.chunk_size)
        observability = None
        try:
            site = await self._site_identity(reader, once)
            if site is None:
                return 1
            hierarchy_id = settings.hierarchy_for(site.hierarchy_id)
            async with self._cloud(site, hierarchy_id) as (client, identity):
                await self._register(client, state, site, hierarchy_id)
                observability, self.metrics_port = await serve_observability(
                    settings.observability.metrics_host,
                    settings.observability.metrics_port,
                    self.metrics,
                    self.health,
                )
                self.metrics.certificate_expiry.set(identity.not_after.timestamp())
                log.info(
                    "connector started",
                    extra={"hierarchy_id": hierarchy_id, "metrics_port": self.metrics_port},
                )
                self._engine = SyncEngine(
                    reader,
                    state,
                    client,
                    hierarchy_id,
                    SyncOptions(
                        batch_size=settings.sync.batch_size,
                        in_flight=settings.sync.in_flight,
                        delete_guard_count=settings.sync.delete_guard_count,
                        delete_guard_percent=settings.sync.delete_guard_percent,
                        scope=settings.site.read_scope(),
                        spill_dir=data_dir / "spill",
                    ),
                    clock=utc_now,
                )
                if self.stop_event.is_set():
                    self._engine.stop()
                self._arbitration = build_arbitration(
                    site_engine, reader, state, client, clock=utc_now, data_dir=data_dir
                )
                if self._arbitration is not None:
                    # Rollout orders of the tenant API, run after each arbitration pass.
                    self._rollout_orders = build_rollout_orders(
                        site_engine,
                        reader,
                        state,
                        client,
                        clock=utc_now,
                        data_dir=data_dir,
                        instance=f"{identity.tenant_id}/{identity.hierarchy_id}",
                    )
                self._directory = build_directory_pass(
                    settings.directory, site_engine, state, clock=utc_now
                )
                self._directory_upload = DirectoryUpload(state, client)
                self._audit_upload = AuditUpload(
                    state,
                    client,
                    instance=f"{identity.tenant_id}/{identity.hierarchy_id}",
                    clock=utc_now,
                    data_dir=data_dir,
                )
                reporter = HeartbeatReporter(
                    client,
                    state,
                    settings,
                    self.metrics,
                    version=self.version,
                    clock=utc_now,
                    after_beat=self._send_audit,
                )
                # Device actions (when `[actions]` is on), only while this process uploads.
                actions = build_action_relay(settings.actions, client, state, clock=utc_now)
                async with relay_running(actions, self.stop_event, lambda: self._uploading):
                    return await self._loop(lease, reporter, once)
        finally:
            if observability is not None:
                await observability.cleanup()
            with contextlib.suppress(CobridgeError):
                await asyncio.to_thread(lease.release)
            site_engine.dispose()
            state.close()

    def _record_failure(self, error: str) -> None:
        """A failed run in the state store, so `status` and `/healthz` say why."""
        state = self._state
        assert state is not None
        kind = "delta" if state.sources.get("site") is not None else "full"
        run_id = uuid.uuid4().hex
        state.runs.start(run_id, kind, now=utc_now())
        state.runs.finish(run_id, "failed", now=utc_now(), error=error)

    async def _site_identity(self, reader: InventorySource, once: bool) -> SiteIdentity | None:
        """The site's identity; keeps trying while the site is unreachable.

        With `once`, a few quick attempts (a file being replaced, a server
        restarting) before giving up; otherwise one attempt per interval.
        """
        attempts = 0
        while True:
            attempts += 1
            try:
                return await asyncio.to_thread(reader.check)
            except CobridgeError as failure:
                if once and attempts < ONCE_SITE_ATTEMPTS:
                    log.warning("site database not usable yet (attempt %d): %s", attempts, failure)
                    await asyncio.sleep(attempts)
                    continue
                log.error("site database not usable: %s", failure)
                await asyncio.to_thread(
                    self._record_failure, f"site database not usable: {failure}"
                )
                if once:
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.settings.sync.interval_seconds)
            if self.stop_event.is_set():
                return None

    @contextlib.asynccontextmanager
    async def _cloud(self, site: SiteIdentity, hierarchy_id: str):  # type: ignore[no-untyped-def]
        settings = self.settings
        try:
            ca_pem = settings.cloud.ca_file.read_bytes()
        except OSError as exc:
            raise EnrollmentError(
                f"cannot read cloud.ca_file {settings.cloud.ca_file}: {exc.strerror}",
                hint="point [cloud] ca_file at the service root certificate (PEM)",
            ) from exc
        anonymous = ConnectorClient(
            settings.cloud.api_url,
            settings.cloud.connector_url,
            ca_pem=ca_pem,
            allow_http=settings.cloud.allow_http,
        )
        async with anonymous:
            identity = await asyncio.to_thread(load_identity, settings.data_dir)
            if identity is None:
                code = settings.cloud.attach_code
                identity = await enroll(
                    anonymous,
                    settings.data_dir,
                    attach_code=code.get_secret_value().strip() if code else None,
                    hierarchy_id=hierarchy_id,
                    site_code=site.site_code or "XXX",
                    version=self.version,
                )
                log.info("enrolled", extra={"connector_id": identity.connector_id})
            if identity.hierarchy_id != hierarchy_id:
                raise EnrollmentError(
                    f"this connector is enrolled for hierarchy {identity.hierarchy_id}, "
                    f"but the site is {hierarchy_id}",
                    hint="use a separate data_dir per hierarchy, or enroll again",
                )
            client = anonymous.with_certificate(identity.chain_pem, identity.key_pem)
            async with client:
                renewed = await self._renew(client, identity)
                if renewed is not None:
                    identity = renewed
                    client = anonymous.with_certificate(identity.chain_pem, identity.key_pem)
                async with client:
                    yield client, identity

    async def _renew(
        self, client: ConnectorClient, identity: ConnectorIdentity
    ) -> ConnectorIdentity | None:
        try:
            renewed = await renew_if_due(client, self.settings.data_dir, identity)
        except CloudError as failure:
            log.warning("certificate renewal failed (will retry at next start): %s", failure)
            return None
        if renewed is not None:
            log.info("certificate renewed", extra={"not_after": renewed.not_after.isoformat()})
        return renewed

    async def _register(
        self, client: ConnectorClient, state: WithSequences, site: SiteIdentity, hierarchy_id: str
    ) -> None:
        while True:
            try:
                registered = await client.register_hierarchy(
                    HierarchyRegistration(
                        hierarchy_id=hierarchy_id,
                        site_code=site.site_code or "XXX",
                        site_name=site.site_name,
                        site_version=site.version,
                        connector_version=self.version,
                    )
                )
                break
            except CloudError as failure:
                if not _transient(failure):
                    raise
                log.error("cannot register the hierarchy yet: %s", failure)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), 10)
                if self.stop_event.is_set():
                    return
        if registered.last_applied_sequence is not None:
            # A state store newer than the tenant's history must not reuse sequences.
            await asyncio.to_thread(state.sequences.raise_to, registered.last_applied_sequence)

    async def _loop(self, lease: UploaderLease, reporter: HeartbeatReporter, once: bool) -> int:
        assert self._engine is not None
        heartbeats = asyncio.create_task(reporter.run(self.stop_event))
        try:
            while not self.stop_event.is_set():
                self._uploading = await asyncio.to_thread(lease.hold)
                if not self._uploading:
                    await self._pause(self.settings.sync.heartbeat_seconds)
                    continue
                started = asyncio.get_running_loop().time()
                cycle = asyncio.create_task(self._engine.run_cycle())
                report = await self._finish(cycle)
                if report is None:
                    return 0
                self._record(report)
                if self._arbitration is not None and not self.stop_event.is_set():
                    self.last_arbitration = await arbitrate(self._arbitration)
                    if self._rollout_orders is not None:
                        self.last_rollout_orders = await self._rollout_orders.run()
                if self._directory is not None and not self.stop_event.is_set():
                    self.last_directory = await run_directory_pass(self._directory)
                    # Also after a failed pass: what an earlier send left is still due.
                    if self._directory_upload is not None:
                        self.last_directory_upload = await self._directory_upload.run()
                # A first cycle is one synced and arbitrated (the demo reports both).
                self.first_cycle.set()
                await reporter.beat()
                if once:
                    return 0 if report.outcome == "ok" else 1
                elapsed = asyncio.get_running_loop().time() - started
                await self._pause(max(1.0, self.settings.sync.interval_seconds - elapsed))
            return 0
        finally:
            heartbeats.cancel()
            await asyncio.gather(heartbeats, return_exceptions=True)

    async def _send_audit(self) -> None:
        """After each heartbeat (so each cycle too): the audit entries the tenant lacks.

        Only the holder of the uploader lease sends; a standby never uploads.
        """
        if self._uploading and self._audit_upload is not None:
            self.last_audit_upload = await self._audit_upload.run()

    async def _finish(self, cycle: asyncio.Task[CycleReport]) -> CycleReport | None:
        """The cycle's report; on stop, a grace period for the batches in flight."""
        stopping = asyncio.create_task(self.stop_event.wait())
        await asyncio.wait({cycle, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if cycle.done():
            return cycle.result()
        log.info("stopping: letting batches in flight finish (at most %d s)", STOP_GRACE_SECONDS)
        done, _ = await asyncio.wait({cycle}, timeout=STOP_GRACE_SECONDS)
        if not done:
            cycle.cancel()  # what was not acknowledged stays in the outbox
            await asyncio.gather(cycle, return_exceptions=True)
            return None
        return cycle.result()

    async def _pause(self, seconds: float) -> None:
        self._sync_now.clear()
        waits = [
            asyncio.create_task(self.stop_event.wait()),
            asyncio.create_task(self._sync_now.wait()),
        ]
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()

    def _record(self, report: CycleReport) -> None:
        self.last_report = report
        self.cycles += 1
        metrics = self.metrics
        metrics.cycles.labels(report.kind, report.outcome).inc()
        metrics.cycle_seconds.observe(report.seconds)
        for change in ("upserted", "tombstoned", "unchanged"):
            metrics.devices.labels(change).inc(report.counts.get(change, 0))
        for situation, count in report.situations.items():
            metrics.situations.labels(situation).set(count)
        if report.outcome == "ok":
            metrics.last_success.set(datetime.now(UTC).timestamp())
        log.info(
            "cycle %s: %s",
            report.kind,
            report.outcome,
            extra={"run_id": report.run_id, "seconds": report.seconds, "error": report.error}
            | {k: v for k, v in report.counts.items() if k != "seconds_ms"},
        )

    def health(self) -> Health:
        """For `/healthz`: the status report of the state store."""
        if self._state is None:
            return Health(False, {"problems": ["starting"]})
        report = status_report(
            self._state,
            self.settings.data_dir,
            now=utc_now(),
            interval_seconds=self.settings.sync.interval_seconds,
        )
        return Health(
            report.healthy,
            {
                "problems": report.problems,
                "notices": report.notices,
                "lastSuccessAt": report.last_success_at,
                "lagSeconds": report.lag_seconds,
                "heldDeletes": report.held_deletes,
                "backlogBatches": report.backlog_batches,
            },
        )


def _transient(failure: CloudError) -> bool:
    """Whether registration may succeed later: no answer, or a server-side error."""
    return not isinstance(failure, CloudApiError) or failure.status >= 500
