"""One arbitration pass of the running connector: settings, desired holders, handoffs,
drift, and the report to the tenant.

1. Read the site's co-management settings and the site's inventory (one
   streaming read), and compute the desired holders (`desired.py`).
2. Run the arbiter: start the handoffs, drive those in flight. A read that
   did not complete starts no handoff back to the site (a device missing from
   an incomplete read may still be co-managed).
3. Drift: where a device reports flags that disagree with the site's gate
   (after a grace period, `onprem.authority.drift`), the record carries a
   conflict, visible in `status`, the tenant's API and the admin center.
4. Report the records that changed to the tenant, and mark them reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.arbiter.arbiter import Arbiter, PassReport
from bridge.arbiter.desired import desired_from_read
from bridge.arbiter.ports import PassRollouts
from bridge.state.authority import JournalEntry
from bridge.state.ports import WithAuthority
from bridge.sync.ports import InventoryReader
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudError
from cloud.contract.authority import AuthorityState
from onprem.site_authority import Conflict, SiteAuthority
from workloads.catalog import Workload
from workloads.rollout import RolloutState

log = logging.getLogger("cobridge.arbiter")

REPORT_BATCH = 5000
DRIFT = "drift: "  # conflicts set from drift start so, and only those are cleared by it


@dataclass
class ArbitrationReport:
    """What one pass saw and did."""

    devices: int = 0
    co_managed: int = 0
    desired_on_cloud: int = 0
    complete: bool = False
    handoffs: PassReport = field(default_factory=PassReport)
    drift: int = 0
    reported: int = 0
    # The active rollout's state after this pass (None without one).
    rollout: RolloutState | None = None

    def as_counts(self) -> dict[str, int]:
        """The figures, for logs and metrics."""
        return {
            "devices": self.devices,
            "co_managed": self.co_managed,
            "desired_on_cloud": self.desired_on_cloud,
            "drift": self.drift,
            "reported": self.reported,
            **self.handoffs.as_counts(),
        }


def _drift_text(conflict: Conflict) -> str:
    return (
        f"{DRIFT}{conflict.kind.value} (the device reports flags {conflict.reported_flags}; "
        f"the site's gate {'holds' if conflict.site_holds else 'revoked'} at epoch {conflict.epoch})"
    )


class ArbitrationPass:
    """The arbiter's work after each sync cycle, composed from its parts."""

    def __init__(
        self,
        reader: InventoryReader,
        site: SiteAuthority,
        arbiter: Arbiter,
        state: WithAuthority,
        client: ConnectorClient | None,
        *,
        clock: Callable[[], datetime],
        rollouts: PassRollouts[Any] | None = None,
    ) -> None:
        self._rollouts = rollouts
        self._reader = reader
        self._site = site
        self._arbiter = arbiter
        self._state = state
        self._client = client
        self._clock = clock

    async def run(self) -> ArbitrationReport:
        """One pass; side failures leave handoffs waiting, never raise."""
        report = ArbitrationReport()
        settings = await asyncio.to_thread(self._site.read_settings)
        rollout = None
        if self._rollouts is not None:
            rollout = await asyncio.to_thread(self._rollouts.before_pass)
        overlay = rollout.overlay if rollout is not None else None
        read = self._reader.read()
        desired = await asyncio.to_thread(desired_from_read, settings, read, overlay)
        report.complete = read.stats.complete
        report.devices, report.co_managed = desired.devices, desired.co_managed
        report.desired_on_cloud = len(desired.desired)
        report.handoffs = await self._arbiter.reconcile(desired.desired, complete=report.complete)
        if self._rollouts is not None and rollout is not None:
            report.rollout = await asyncio.to_thread(
                self._rollouts.after_pass, rollout, complete=report.complete
            )
        report.drift = await asyncio.to_thread(self._mark_drift)
        report.reported = await self.report()
        log.info("arbitration pass", extra=report.as_counts())
        return report

    def _mark_drift(self) -> int:
        """Set drift conflicts from the site, clear those that ended; how many there are."""
        journal = self._state.authority
        smsids = journal.journaled_smsids()
        found = self._site.conflicts(now=self._clock(), smsids=smsids) if smsids else []
        wanted: dict[tuple[str, Workload], str | None] = {c.key: _drift_text(c) for c in found}
        for entry in journal.with_conflicts():
            conflict = entry.conflict or ""
            if conflict.startswith(DRIFT) and entry.record.key not in wanted:
                wanted[entry.record.key] = None
        journal.set_conflicts(wanted, now=self._clock())
        return len(found)

    async def report(self) -> int:
        """Send the records the tenant does not have yet; how many it received."""
        if self._client is None:
            return 0
        sent = 0
        while True:
            entries = await asyncio.to_thread(self._state.authority.unreported, REPORT_BATCH)
            if not entries:
                return sent
            try:
                await self._client.report_authority([_state_of(e) for e in entries])
            except CloudError as exc:
                log.warning("authority report not delivered (retried next pass): %s", exc)
                return sent
            await asyncio.to_thread(self._state.authority.mark_reported, entries)
            sent += len(entries)
            if len(entries) < REPORT_BATCH:
                return sent


def _state_of(entry: JournalEntry) -> AuthorityState:
    record = entry.record
    return AuthorityState.of(
        record,
        desired=record.destination,
        updated_at=entry.updated_at,
        conflict=entry.conflict,
    )
