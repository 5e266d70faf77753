"""The action relay: claims the tenant's device actions, runs them over WinRM, reports results.

Guarantees (DESIGN.md section 10):
- At most `device_concurrency` actions run on one device (by SMSID) and at
  most `global_concurrency` in all; WinRM calls run in a pool of that many
  threads, so a slow device never blocks the event loop.
- A transient failure (unreachable, timed out, busy) is tried again with
  exponential backoff and jitter, up to `retry_attempts` attempts and never
  after the action expired; a permanent one is not. A script or restart is
  tried again only when the failure proves the command never reached the
  device.
- Before a command is sent, the tenant is told the action starts and the
  journal (`connector_action_runs`) records the attempt, committed. After a
  restart, a run recorded as started without a result is run again only if
  it is a client schedule; a script or restart is reported failed with
  `interrupted`, never run twice. An action offered again is recognised by
  its id.
- Every result is journalled before it is reported, and reported again until
  the tenant acknowledges it. An expired action is reported `expired`
  without running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

import bridge.actions.outcomes as outcomes
from bridge.actions.outcomes import Timing
from bridge.actions.ports import ActionResult, ActionSource, ClaimedAction, DeviceClient
from bridge.actions.reporting import RelayStats, ResultReporter
from bridge.settings_actions import RelayOptions
from bridge.state.actions import ActionRun, NewActionRun
from bridge.state.ports import WithActions
from onprem.errors import WinRMError
from onprem.winrm import CommandOutput, ScheduleOutcome
from workloads.errors import CobridgeError

logger = logging.getLogger(__name__)
# An empty claim answered sooner than this (seconds) did not long-poll: pause before the next.
EMPTY_CLAIM_PAUSE = 0.5


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _DeviceSlot:
    semaphore: asyncio.Semaphore
    users: int = 0


@dataclass
class _Task:
    task: asyncio.Task[None]
    # Set once an attempt is about to be journalled: from then on it is not cancelled.
    committed: bool = False


class ActionRelay:
    """Relays device actions from an `ActionSource` to devices through a `DeviceClient`."""

    def __init__(
        self,
        source: ActionSource,
        client: DeviceClient,
        state: WithActions,
        options: RelayOptions | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._source = source
        self._client = client
        self._state = state
        self.options = options or RelayOptions()
        self._clock = clock
        self.stats = RelayStats()
        self._tasks: dict[str, _Task] = {}
        self._devices: dict[str, _DeviceSlot] = {}
        self._global = asyncio.Semaphore(self.options.global_concurrency)
        self._stop: asyncio.Event | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._results = ResultReporter(source, state, self.stats, clock)

    async def run(self, stop: asyncio.Event) -> None:
        """Resume, then claim and run actions until `stop` is set; in-flight commands finish."""
        loop = asyncio.get_running_loop()
        self._stop = stop
        async with self._open():
            await self.resume()
            while not stop.is_set():
                await self._results.journal_acknowledged()
                if self._results.waiting:
                    await self._results.flush(self._tasks)
                room = self._room()
                if room <= 0:
                    await self._until_first_done(stop)
                    continue
                asked = loop.time()
                try:
                    claimed = await self._claim(room, self.options.poll_wait_seconds, stop)
                except CobridgeError as exc:
                    logger.warning("claiming device actions failed: %s", exc.message)
                    await _wait(stop, self.options.report_retry_seconds)
                    continue
                await self._accept(claimed)
                if not claimed and (
                    self._results.waiting or loop.time() - asked < EMPTY_CLAIM_PAUSE
                ):
                    # Results to retry, or an empty answer that did not wait: do not spin.
                    await _wait(stop, self.options.report_retry_seconds)

    async def run_until_idle(self) -> RelayStats:
        """Resume, then claim without waiting until the source is empty and every action ended.

        Results the tenant would not take stay journalled for a later run.
        """
        async with self._open():
            await self.resume()
            while True:
                room = self._room()
                claimed = await self._source.claim(room, 0) if room > 0 else []
                if claimed:
                    await self._accept(claimed)
                elif self._tasks:
                    await self._until_first_done(None)
                else:
                    break
            await self._results.flush(self._tasks)
        return self.stats

    async def resume(self) -> None:
        """Pick up what a previous run left: unstarted or idempotent runs, and unreported results."""
        for run in await asyncio.to_thread(self._state.actions.unfinished):
            if run.action_id in self._tasks:
                continue
            action = ClaimedAction.from_payload(run.payload)
            if run.state == "started" and not action.idempotent:
                await self._interrupted(run)
            else:
                self._spawn(action)
        await self._results.flush(self._tasks)

    # -- claiming -----------------------------------------------------------

    def _room(self) -> int:
        """How many actions to claim now: none while over half the backlog is held (claim in bulk)."""
        held, limit = len(self._tasks), self.options.pending_limit
        return 0 if held > limit // 2 else limit - held

    async def _claim(
        self, limit: int, wait_seconds: float, stop: asyncio.Event
    ) -> list[ClaimedAction]:
        claim = asyncio.ensure_future(self._source.claim(limit, wait_seconds))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({claim, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not claim.done():
            claim.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await claim
            return []
        return claim.result()

    async def _accept(self, claimed: list[ClaimedAction]) -> None:
        fresh = {a.action_id: a for a in claimed if a.action_id not in self._tasks}
        if not fresh:
            return
        now = self._clock()
        records = [
            NewActionRun(a.action_id, a.kind, a.smsid, a.host, a.to_payload(), a.expires_at)
            for a in fresh.values()
        ]
        runs = await asyncio.to_thread(self._state.actions.record_claims, records, now=now)
        self.stats.claimed += len(fresh)
        for action_id, action in fresh.items():
            run = runs[action_id]
            if run.state == "finished":
                # Offered again after it ended here: tell the tenant again, never run it again.
                if run.result is not None:
                    await self._results.report(ActionResult.from_payload(run.result))
            elif run.state == "started" and not action.idempotent:
                await self._interrupted(run)
            else:
                self._spawn(action)

    def _spawn(self, action: ClaimedAction) -> None:
        task = asyncio.create_task(self._handle(action), name=f"action {action.action_id}")
        self._tasks[action.action_id] = _Task(task)
        task.add_done_callback(lambda _: self._tasks.pop(action.action_id, None))

    # -- running ------------------------------------------------------------

    async def _handle(self, action: ClaimedAction) -> None:
        try:
            result = await self._run(action)
        except CobridgeError as exc:
            # The journal or the tenant failed before a result: the tenant offers the
            # action again (or a restart resumes it), and the journal decides what may run.
            logger.error("device action %s left for later: %s", action.action_id, exc.message)
            return
        except Exception:
            logger.exception("device action %s failed unexpectedly", action.action_id)
            result = outcomes.refused(
                action.action_id,
                outcomes.INTERNAL_ERROR,
                "the connector failed unexpectedly while running the action (see its log)",
                Timing(None, self._clock()),
            )
        if result is not None:
            await self._results.finish(result)

    async def _run(self, action: ClaimedAction) -> ActionResult | None:
        refusal = outcomes.refusal(action)
        if refusal is not None:
            timing = Timing(None, self._clock())
            return outcomes.failed(action.action_id, refusal, timing, self.options.max_result_chars)
        if self._expired(action):
            return outcomes.expired(action, self._clock())
        async with self._device_slot(action.smsid), self._global:
            if self._stop is not None and self._stop.is_set():
                # Stopping: a slot freed now must not start another action; it stays
                # claimed in the journal for the next start.
                return None
            if self._expired(action):
                return outcomes.expired(action, self._clock())
            entry = self._tasks.get(action.action_id)
            if entry is not None:
                entry.committed = True  # from here on it runs to its end, even when stopping
            if not await self._source.start(action.action_id):
                # Cancelled or expired at the tenant: nothing to run, nothing to report.
                self.stats.skipped += 1
                await asyncio.to_thread(
                    self._state.actions.finish,
                    action.action_id,
                    None,
                    now=self._clock(),
                    reported=True,
                )
                return None
            return await self._attempts(action)

    async def _attempts(self, action: ClaimedAction) -> ActionResult:
        loop = asyncio.get_running_loop()
        started_at: datetime | None = None
        journalled: list[int] = []
        try:
            async for attempt in self._retrying(action):
                with attempt:
                    started_at = started_at or self._clock()
                    outcome = await loop.run_in_executor(
                        self._pool, self._journal_then_run, action, journalled
                    )
        except WinRMError as exc:
            attempts = journalled[-1] if journalled else 0
            self.stats.retries += max(0, attempts - 1)
            timing = Timing(started_at, self._clock(), attempts)
            return outcomes.failed(action.action_id, exc, timing, self.options.max_result_chars)
        attempts = journalled[-1]
        self.stats.retries += max(0, attempts - 1)
        timing = Timing(started_at, self._clock(), attempts)
        return outcomes.succeeded(action, outcome, timing, self.options.max_result_chars)

    def _journal_then_run(
        self, action: ClaimedAction, journalled: list[int]
    ) -> ScheduleOutcome | CommandOutput:
        """One attempt, in a worker thread: journalled (committed) before the command is sent."""
        attempt = self._state.actions.mark_started(action.action_id, now=self._clock())
        if attempt == 0:
            raise CobridgeError(f"action {action.action_id} already ended: not sent again")
        journalled.append(attempt)
        return outcomes.run_on_device(self._client, action)

    def _retrying(self, action: ClaimedAction) -> AsyncRetrying:
        options = self.options
        return AsyncRetrying(
            stop=stop_after_attempt(options.retry_attempts),
            wait=wait_random_exponential(
                multiplier=options.retry_initial_seconds, max=options.retry_max_seconds
            ),
            retry=retry_if_exception(lambda exc: self._retryable(action, exc)),
            reraise=True,
        )

    def _retryable(self, action: ClaimedAction, exc: BaseException) -> bool:
        if not isinstance(exc, WinRMError) or not exc.transient or self._expired(action):
            return False
        # A command that may have reached the device runs again only if that is harmless.
        return action.idempotent or not exc.sent

    def _expired(self, action: ClaimedAction) -> bool:
        return self._clock() >= action.expires_at

    async def _interrupted(self, run: ActionRun) -> None:
        self.stats.interrupted += 1
        message = (
            "the connector stopped while this action was running; it may or may not have "
            "run on the device, and is not run again"
        )
        timing = Timing(run.started_at, self._clock(), run.attempts)
        await self._results.finish(
            outcomes.refused(run.action_id, outcomes.INTERRUPTED, message, timing)
        )

    # -- plumbing -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        self._pool = ThreadPoolExecutor(
            max_workers=self.options.global_concurrency, thread_name_prefix="winrm"
        )
        try:
            yield
        finally:
            # Actions still waiting for a slot stay claimed in the journal; running ones finish.
            for entry in list(self._tasks.values()):
                if not entry.committed:
                    entry.task.cancel()
            await asyncio.gather(*(e.task for e in self._tasks.values()), return_exceptions=True)
            await self._results.journal_acknowledged()
            self._pool.shutdown(wait=True)
            self._pool = None

    @contextlib.asynccontextmanager
    async def _device_slot(self, smsid: str) -> AsyncIterator[None]:
        slot = self._devices.get(smsid)
        if slot is None:
            slot = self._devices[smsid] = _DeviceSlot(
                asyncio.Semaphore(self.options.device_concurrency)
            )
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._devices[smsid]

    async def _until_first_done(self, stop: asyncio.Event | None) -> None:
        waits: set[asyncio.Future[object]] = {e.task for e in self._tasks.values()}  # type: ignore[misc]
        stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
        if stopped is not None:
            waits.add(stopped)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stopped is not None:
                stopped.cancel()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
