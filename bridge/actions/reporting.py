"""Results of device actions: journalled, then reported until the tenant acknowledges them.

A result is committed to the journal before it is reported, so a crash
never loses one; acknowledgements are journalled in batches (one lost in a
crash only means the same result is reported again, which the tenant takes
as a repeat). `RelayStats` counts what the relay did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime

from bridge.actions.ports import ActionResult, ActionSource
from bridge.state.ports import WithActions
from workloads.errors import CobridgeError

logger = logging.getLogger(__name__)
# Acknowledged results journalled per transaction.
ACKNOWLEDGED_BATCH = 64


@dataclass
class RelayStats:
    """What the relay did since it was made."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    expired: int = 0
    interrupted: int = 0
    skipped: int = 0
    retries: int = 0
    reported: int = 0
    report_failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        """Actions that ended here (succeeded, failed or expired)."""
        return self.succeeded + self.failed + self.expired


class ResultReporter:
    """Journals results, reports them to the tenant, and reports again what it did not take."""

    def __init__(
        self,
        source: ActionSource,
        state: WithActions,
        stats: RelayStats,
        clock: Callable[[], datetime],
    ) -> None:
        self._source = source
        self._state = state
        self._stats = stats
        self._clock = clock
        self._acknowledged: list[str] = []
        # A report failed: unreported results wait in the journal.
        self.waiting = False

    async def finish(self, result: ActionResult) -> None:
        """Journal how an action ended (committed), count it, and report it."""
        await asyncio.to_thread(
            self._state.actions.finish, result.action_id, result.to_payload(), now=self._clock()
        )
        stats = self._stats
        if result.state == "succeeded":
            stats.succeeded += 1
        elif result.state == "expired":
            stats.expired += 1
        else:
            stats.failed += 1
        if result.error_code:
            stats.errors[result.error_code] = stats.errors.get(result.error_code, 0) + 1
        await self.report(result)

    async def report(self, result: ActionResult) -> bool:
        """Report one journalled result; False (and kept for later) when the tenant did not take it."""
        try:
            await self._source.report(result)
        except CobridgeError as exc:
            self._stats.report_failures += 1
            self.waiting = True
            logger.warning("reporting action %s failed: %s", result.action_id, exc.message)
            return False
        self._stats.reported += 1
        self._acknowledged.append(result.action_id)
        if len(self._acknowledged) >= ACKNOWLEDGED_BATCH:
            await self.journal_acknowledged()
        return True

    async def journal_acknowledged(self) -> None:
        """Journal the acknowledgements received so far, in one transaction."""
        ids, self._acknowledged = self._acknowledged, []
        if ids:
            await asyncio.to_thread(self._state.actions.mark_reported, ids, now=self._clock())

    async def flush(self, running: Container[str]) -> None:
        """Report journalled results the tenant has not acknowledged (not those of `running`
        actions, which report their own), oldest first, until one fails."""
        self.waiting = False
        while True:
            await self.journal_acknowledged()
            runs = await asyncio.to_thread(self._state.actions.unreported, 100)
            waiting = [r for r in runs if r.action_id not in running and r.result is not None]
            if not waiting:
                return
            for run in waiting:
                if not await self.report(ActionResult.from_payload(run.result or {})):
                    return
