"""The devices page's count cache: reused while recent, one count at a time per key."""

from __future__ import annotations

import asyncio

import pytest

from cloud.admin_center.count_cache import CountCache


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_a_count_is_reused_until_it_is_too_old_and_counted_once_under_load() -> None:
    clock = Clock()
    cache = CountCache(ttl=30, max_entries=2, clock=clock)
    calls = 0

    async def count() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)  # many pages arrive while this one counts
        return 40 + calls

    results = await asyncio.gather(*(cache.get(("t", "windows"), count) for _ in range(16)))
    assert calls == 1
    assert {r.value for r in results} == {41}
    clock.now += 12
    again = await cache.get(("t", "windows"), count)
    assert (again.value, again.age, calls) == (41, 12, 1)
    clock.now += 19  # 31 s old: counted again
    fresh = await cache.get(("t", "windows"), count)
    assert (fresh.value, fresh.age, calls) == (42, 0.0, 2)
    # Another tenant's or filter's count is its own.
    other = await cache.get(("u", "windows"), count)
    assert (other.value, calls) == (43, 3)
    # Bounded: the oldest key is evicted first.
    await cache.get(("v", "windows"), count)
    assert calls == 4
    await cache.get(("t", "windows"), count)
    assert calls == 5, "the evicted key is counted again"
