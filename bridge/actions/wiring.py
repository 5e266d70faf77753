"""The action relay inside the running connector: built from `[actions]`, run in the background.

`build_action_relay` composes the relay (the tenant's queue through the
connector's cloud client, devices through the WinRM adapter, the journal in
the connector's state) when `[actions]` is enabled; the password was already
resolved from the encrypted secret store when the settings were loaded.

`relay_running` runs it beside the sync loop. The relay claims only while
this process holds the uploader lease: a standby of an active/standby pair
shares the journal, and must neither claim nor take the active connector's
running actions for interrupted ones. Each run starts with `resume()` (the
relay's `run` does that first). On stop, no new action is claimed or
started; actions already sent to a device get `STOP_GRACE_SECONDS` to end
and be reported, and whatever is left stays journalled (`started`: a script
or restart is reported interrupted at the next start, never run twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.actions.cloud_source import CloudActionSource
from bridge.actions.engine import ActionRelay
from bridge.settings_actions import ActionsSettings
from bridge.state.ports import WithActions
from bridge.tenant.connector import ConnectorClient
from onprem.winrm import WinRMClient

log = logging.getLogger("cobridge.actions")

STOP_GRACE_SECONDS = 30.0
# How often the lease is looked at (it is renewed by the sync loop), and the pause after a crash.
LEASE_CHECK_SECONDS = 1.0
RESTART_PAUSE_SECONDS = 10.0
# Acknowledged runs are kept this long (past the tenant's longest expiry, 7 days), so
# an action offered again is still recognised; older ones are pruned at each start.
KEEP_FINISHED = timedelta(days=8)


@dataclass(frozen=True)
class ConnectorRelay:
    """The connector's relay, with the journal it keeps and the clock it reads."""

    relay: ActionRelay
    state: WithActions
    clock: Callable[[], datetime]


def build_action_relay(
    settings: ActionsSettings,
    client: ConnectorClient,
    state: WithActions,
    *,
    clock: Callable[[], datetime],
) -> ConnectorRelay | None:
    """The relay `[actions]` describes, or None when device actions are off."""
    if not settings.enabled:
        return None
    relay = ActionRelay(
        CloudActionSource(client),
        WinRMClient(settings.winrm_config()),
        state,
        settings.relay_options(),
        clock=clock,
    )
    log.info("device actions on", extra={"winrm": settings.describe()})
    return ConnectorRelay(relay, state, clock)


@contextlib.asynccontextmanager
async def relay_running(
    wired: ConnectorRelay | None,
    stop: asyncio.Event,
    holds_lease: Callable[[], bool],
    *,
    grace_seconds: float = STOP_GRACE_SECONDS,
) -> AsyncIterator[None]:
    """Run the relay in the background while the block runs (nothing when it is None).

    It stops when `stop` is set or the block ends, whichever comes first.
    """
    if wired is None:
        yield
        return
    closing = asyncio.Event()
    task = asyncio.create_task(_supervise(wired, (stop, closing), holds_lease), name="actions")
    try:
        yield
    finally:
        closing.set()
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            log.warning(
                "stopping: device actions still running after %.0f s are left to the journal",
                grace_seconds,
            )
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        stats = wired.relay.stats
        log.info(
            "action relay stopped",
            extra={
                "claimed": stats.claimed,
                "succeeded": stats.succeeded,
                "failed": stats.failed,
                "expired": stats.expired,
                "interrupted": stats.interrupted,
                "retries": stats.retries,
                "reported": stats.reported,
            },
        )


async def _supervise(
    wired: ConnectorRelay, stops: tuple[asyncio.Event, ...], holds_lease: Callable[[], bool]
) -> None:
    """Run the relay while the lease is held; again after it failed, until a stop is set."""
    while not _any_set(stops):
        if not holds_lease():
            await _wait_any(stops, LEASE_CHECK_SECONDS)
            continue
        run_stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(stops, run_stop, holds_lease))
        try:
            pruned = await asyncio.to_thread(
                wired.state.actions.prune, finished_before=wired.clock() - KEEP_FINISHED
            )
            log.info("action relay started", extra={"pruned_runs": pruned})
            await wired.relay.run(run_stop)
        except Exception:
            log.exception("the action relay failed; it starts again shortly")
            await _wait_any(stops, RESTART_PAUSE_SECONDS)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


async def _watch(
    stops: tuple[asyncio.Event, ...], run_stop: asyncio.Event, holds_lease: Callable[[], bool]
) -> None:
    """Set `run_stop` once a stop is set or this process no longer holds the lease."""
    while not _any_set(stops):
        if not holds_lease():
            log.info("uploader lease lost: the action relay stops claiming")
            break
        await _wait_any(stops, LEASE_CHECK_SECONDS)
    run_stop.set()


def _any_set(events: tuple[asyncio.Event, ...]) -> bool:
    return any(event.is_set() for event in events)


async def _wait_any(events: tuple[asyncio.Event, ...], seconds: float) -> None:
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
