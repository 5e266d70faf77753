"""The client's shared pacing after 429/503: a gate for every call, one call at a time a while."""

from __future__ import annotations

import asyncio

import pytest

from bridge.tenant.throttle import ThrottleGovernor


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_limit_drops_to_one_for_the_cooldown_then_returns() -> None:
    clock = FakeClock()
    governor = ThrottleGovernor(4, cooldown=60, clock=clock)
    assert governor.limit == 4
    governor.throttled(2)
    assert governor.limit == 1
    clock.now += 59
    assert governor.limit == 1
    clock.now += 2
    assert governor.limit == 4


def test_refused_max_concurrency() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ThrottleGovernor(0)


@pytest.mark.asyncio
async def test_gate_holds_every_new_call_until_retry_after() -> None:
    governor = ThrottleGovernor(8, cooldown=0.0)
    loop = asyncio.get_running_loop()
    governor.throttled(0.3)
    started = loop.time()
    entered: list[float] = []

    async def call() -> None:
        async with governor.slot():
            entered.append(loop.time() - started)

    await asyncio.gather(*(call() for _ in range(3)))
    assert len(entered) == 3
    assert min(entered) >= 0.25
    assert governor.gated_seconds >= 0.25


@pytest.mark.asyncio
async def test_one_call_at_a_time_while_cooling_down() -> None:
    governor = ThrottleGovernor(8, cooldown=30.0)
    governor.throttled(None)  # a 503 without Retry-After: no gate, but one at a time
    inside = 0
    most = 0

    async def call() -> None:
        nonlocal inside, most
        async with governor.slot():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(call() for _ in range(6)))
    assert most == 1


@pytest.mark.asyncio
async def test_full_concurrency_without_throttling() -> None:
    governor = ThrottleGovernor(3)
    inside = 0
    most = 0

    async def call() -> None:
        nonlocal inside, most
        async with governor.slot():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(call() for _ in range(9)))
    assert most == 3
