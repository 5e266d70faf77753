"""The heartbeat: status and quarantine to the tenant, release orders back from it.

Every `heartbeat_seconds` (and after each cycle) the connector reports its
status and the deletes it holds. The answer lists the release orders admins
gave through the tenant API; each is applied to the held deletes here (who
released them is recorded as `tenant:<admin>`) and named in the next
heartbeat so the tenant marks it applied. Applying an order twice changes
nothing, so a crash between applying and reporting is harmless. A release is
appended to the audit log in the transaction that makes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bridge.audit import AuditStore, append, load_signer
from bridge.audit.events import deletes_released
from bridge.runtime.observability import ConnectorMetrics
from bridge.runtime.quarantine_report import quarantine_report
from bridge.runtime.status import StatusStore, status_report
from bridge.settings import ConnectorSettings
from bridge.state.ports import WithDeletes
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudError
from cloud.contract.attach import (
    MAX_HELD_GROUPS,
    MAX_HELD_SAMPLE,
    ConnectorStatus,
    DeleteReleaseOrder,
    Heartbeat,
    HeldDeleteGroup,
    HeldDeviceRef,
)
from workloads.errors import CobridgeError

log = logging.getLogger("cobridge.connector")

# Holds this close to an order's time (after correcting for skew) count as before it.
CLOCK_TOLERANCE = timedelta(seconds=2)
# A skew worth an admin's attention (TLS and tokens tolerate a few minutes).
SKEW_WARNING = timedelta(minutes=2)
_UNKNOWN = "unknown"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ReleaseTransaction(WithDeletes, AuditStore, Protocol):
    """A release order's deletes and its audit entry, in one transaction."""


class HeartbeatStore(StatusStore, Protocol):
    """What a heartbeat reports (the status, the quarantine) and the releases it applies."""

    def transaction(self) -> AbstractContextManager[ReleaseTransaction]:
        """One transaction: committed on success, rolled back on error."""
        ...


class HeartbeatReporter:
    """Sends heartbeats and applies the release orders they bring back."""

    def __init__(
        self,
        client: ConnectorClient,
        state: HeartbeatStore,
        settings: ConnectorSettings,
        metrics: ConnectorMetrics,
        *,
        version: str,
        clock: Callable[[], datetime],
        after_beat: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._client = client
        self._state = state
        self._settings = settings
        self._metrics = metrics
        self._version = version
        self._clock = clock
        self._applied: list[uuid.UUID] = []
        # The digest of the quarantine report the tenant holds; unknown until an answer says.
        self._tenant_quarantine: str | None = _UNKNOWN
        self._lock = asyncio.Lock()
        self.detached = False
        # Run after each answered heartbeat while attached (the audit log upload).
        self._after_beat = after_beat

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop` is set."""
        while not stop.is_set():
            await self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.sync.heartbeat_seconds)

    async def beat(self) -> None:
        """One heartbeat; failures are logged and counted, never raised."""
        async with self._lock:
            try:
                heartbeat = await asyncio.to_thread(self._heartbeat)
                ack = await self._client.heartbeat(heartbeat)
            except (CloudError, CobridgeError) as failure:
                self._metrics.heartbeats.labels("failed").inc()
                log.warning("heartbeat failed: %s", failure)
                return
            self._metrics.heartbeats.labels("ok").inc()
            # What this heartbeat reported is now recorded by the tenant.
            reported = set(heartbeat.applied_releases)
            self._applied = [r for r in self._applied if r not in reported]
            if ack.detached and not self.detached:
                log.error("the tenant has detached this hierarchy: uploads are refused")
            self.detached = ack.detached
            self._tenant_quarantine = ack.quarantine_digest
            # The service's clock minus ours, to read its times on our clock.
            skew = _aware(ack.server_time) - self._clock()
            self._metrics.clock_skew.set(skew.total_seconds())
            if abs(skew) > SKEW_WARNING:
                log.warning(
                    "this host's clock differs from the service's by %.0f s: fix NTP "
                    "(certificates and audit times depend on it)",
                    skew.total_seconds(),
                )
            for order in ack.delete_releases:
                await asyncio.to_thread(self._apply, order, skew)
            if self._after_beat is not None and not self.detached:
                await self._after_beat()

    def _apply(self, order: DeleteReleaseOrder, skew: timedelta) -> None:
        """Release what the order names: one cycle, or every group held before it was given.

        A "release all" never lets through deletes held after the admin asked:
        those were not in front of the admin.
        """
        by = f"tenant:{order.requested_by}"[:255]
        now = self._clock()
        signer = load_signer(self._settings.data_dir)
        with self._state.transaction() as tx:
            if order.cycle_id is not None:
                released = tx.deletes.release(by, now=now, cycle_id=order.cycle_id)
            else:
                asked = _aware(order.requested_at) - skew + CLOCK_TOLERANCE
                cycles = {h.cycle_id for h in tx.deletes.held() if h.held_at <= asked}
                released = [
                    entry
                    for cycle in sorted(cycles)
                    for entry in tx.deletes.release(by, now=now, cycle_id=cycle)
                ]
            if released:
                event = deletes_released(
                    by, released, cycle_id=order.cycle_id, order_id=str(order.release_id)
                )
                append(tx, signer, event, now=now)
        log.warning(
            "released %d held delete(s) by order of %s",
            len(released),
            order.requested_by,
            extra={"release_id": str(order.release_id), "cycle_id": order.cycle_id},
        )
        if order.release_id not in self._applied:
            self._applied.append(order.release_id)

    def _heartbeat(self) -> Heartbeat:
        settings = self._settings
        report = status_report(
            self._state,
            settings.data_dir,
            now=self._clock(),
            interval_seconds=settings.sync.interval_seconds,
        )
        self._metrics.quarantined.set(report.quarantined)
        self._metrics.held_deletes.set(report.held_deletes)
        self._metrics.backlog.set(report.backlog_batches)
        last = report.last_cycle
        status = ConnectorStatus(
            last_cycle_at=last.started_at if last else None,
            last_cycle_seconds=last.seconds if last else None,
            site_devices=report.site_devices,
            backlog=report.backlog_records,
            lag_seconds=report.lag_seconds,
            quarantined=report.quarantined,
            held_deletes=report.held_deletes,
            certificate_not_after=report.certificate_not_after,
            outcome=last.outcome if last else None,
            error=last.error if last else None,
            situations=report.situations,
        )
        quarantine = quarantine_report(self._state)
        return Heartbeat(
            connector_version=self._version,
            status=status,
            held_deletes=self._held_groups(),
            applied_releases=list(self._applied),
            quarantine=None if quarantine.digest == self._tenant_quarantine else quarantine,
        )

    def _held_groups(self) -> list[HeldDeleteGroup]:
        counts: dict[str, int] = {}
        since: dict[str, datetime] = {}
        samples: dict[str, list[HeldDeviceRef]] = {}
        for entry in self._state.deletes.held():
            counts[entry.cycle_id] = counts.get(entry.cycle_id, 0) + 1
            since.setdefault(entry.cycle_id, entry.held_at)
            sample = samples.setdefault(entry.cycle_id, [])
            if len(sample) < MAX_HELD_SAMPLE:
                sample.append(HeldDeviceRef(smsid=entry.smsid, name=entry.name))
        return [
            HeldDeleteGroup(cycle_id=c, count=n, held_at=since[c], sample=samples[c])
            for c, n in list(counts.items())[:MAX_HELD_GROUPS]
        ]
