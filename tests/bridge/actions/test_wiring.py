"""The relay as the connector runs it: built from `[actions]`, claiming only under the lease,
finishing what a device already runs when stopped, and leaving to the journal what outlasts
the grace period.

Real connector state (SQLite), the real WinRM adapter against the `responses`
mock, an in-memory tenant that records whether the lease was held at each claim.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.actions import ActionRelay, ClaimedAction
from bridge.actions.wiring import ConnectorRelay, build_action_relay, relay_running
from bridge.settings_actions import ActionsSettings
from bridge.state import ConnectorState
from tests.support.action_relay_rig import (
    PASSWORD,
    USER,
    MemorySource,
    fast,
    script,
    trigger,
    winrm_client,
)
from tests.support.winrm_responder import CommandReply, WinRMResponder, simulated_agent

DEADLINE = 30.0


class Lease:
    """Whether this process holds the uploader lease (the test flips it); asks counted."""

    def __init__(self, held: bool) -> None:
        self.held = held
        self.refusals = 0

    def __call__(self) -> bool:
        self.refusals += not self.held
        return self.held


class LeaseCheckingSource(MemorySource):
    """A tenant that notes every claim made while the lease was not held."""

    def __init__(self, lease: Lease, actions: list[ClaimedAction]) -> None:
        super().__init__(actions)
        self.lease = lease
        self.claims_without_lease = 0

    async def claim(self, limit: int, wait_seconds: float) -> list[ClaimedAction]:
        if not self.lease.held:
            self.claims_without_lease += 1
        return await super().claim(limit, min(wait_seconds, 0.2))


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ConnectorState]:
    """An empty connector state."""
    with ConnectorState.open(None, data_dir=tmp_path) as opened:
        yield opened


@pytest.fixture
def fleet() -> Iterator[WinRMResponder]:
    """Mocked WinRM hosts accepting the relay's account."""
    with WinRMResponder(credentials=(USER, PASSWORD)) as responder:
        yield responder


def wired(source: MemorySource, state: ConnectorState, **client: object) -> ConnectorRelay:
    """A relay over the source, composed as the connector composes it."""
    relay = ActionRelay(source, winrm_client(**client), state, fast(poll_wait_seconds=0.2))
    return ConnectorRelay(relay, state, lambda: datetime.now(UTC))


async def until(check: object, what: str) -> None:
    """Until `check()` is true (poll with a deadline)."""
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not seen: {what}"
        await asyncio.sleep(0.02)


def test_the_relay_is_built_only_when_actions_are_on(state: ConnectorState) -> None:
    now = lambda: datetime.now(UTC)  # noqa: E731
    assert build_action_relay(ActionsSettings(), None, state, clock=now) is None  # type: ignore[arg-type]
    settings = ActionsSettings(enabled=True, auth="basic", username=USER, password=PASSWORD)
    built = build_action_relay(settings, None, state, clock=now)  # type: ignore[arg-type]
    assert built is not None
    assert built.relay.options.global_concurrency == settings.global_concurrency


@pytest.mark.asyncio
async def test_actions_are_claimed_only_while_the_lease_is_held(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    lease = Lease(held=False)
    source = LeaseCheckingSource(lease, [trigger("a-1", "pc1.corp.example.com")])
    stop = asyncio.Event()
    async with relay_running(wired(source, state), stop, lease):
        await until(lambda: lease.refusals >= 2, "the lease looked at twice")
        assert source.claims == 0
        lease.held = True
        await until(lambda: "a-1" in source.reports, "a-1 reported")
        lease.held = False  # lost: the relay stops claiming
        await until(lambda: lease.refusals >= 4, "the loss seen, and the lease looked at again")
        source.offer(trigger("a-2", "pc2.corp.example.com"))
        await until(lambda: lease.refusals >= 6, "the lease looked at twice more")
        assert [a.action_id for a in source.queue] == ["a-2"]
        lease.held = True
        await until(lambda: "a-2" in source.reports, "a-2 reported once the lease is back")
    # A claim already waiting when the lease was lost may end; none starts without it.
    assert source.claims_without_lease <= 1
    assert source.result("a-1").state == "succeeded"


@pytest.mark.asyncio
async def test_on_stop_a_command_already_sent_finishes_and_is_reported(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    fleet.latency = 0.5  # each command runs half a second
    source = LeaseCheckingSource(Lease(held=True), [script("s-1", "pc1.corp.example.com")])
    stop = asyncio.Event()
    async with relay_running(wired(source, state), stop, Lease(held=True)):
        await until(lambda: fleet.step_count("pc1.corp.example.com", "command") == 1, "sent")
        stop.set()
    assert source.result("s-1").state == "succeeded"
    run = state.actions.get("s-1")
    assert run is not None
    assert run.state == "finished"


@pytest.mark.asyncio
async def test_what_outlasts_the_grace_period_stays_journalled_as_started(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    def endless(command: object) -> CommandReply:
        if "TriggerSchedule" in (getattr(command, "script", None) or ""):
            return simulated_agent(command)  # type: ignore[arg-type]
        return CommandReply(pending_receives=10**9)

    fleet.on_default(endless)
    source = LeaseCheckingSource(Lease(held=True), [script("s-2", "pc2.corp.example.com")])
    stop = asyncio.Event()
    relay = wired(source, state, command_timeout=5)  # its worker ends soon after the test
    async with relay_running(relay, stop, Lease(held=True), grace_seconds=0.3):
        await until(lambda: fleet.step_count("pc2.corp.example.com", "command") == 1, "sent")
        stop.set()
    run = state.actions.get("s-2")
    assert run is not None
    assert run.state == "started"  # a restart reports it interrupted, never runs it again
    assert "s-2" not in source.reports
