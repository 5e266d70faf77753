"""Recent device counts for the devices page: one count per filter per half minute.

Counting every match of a filter costs a scan of the tenant's matching rows
(seconds at 700,000 devices), and an admin paging through a list asks for
the same count on every page. The page shows a count at most `TTL` old, says
how old it is, and concurrent pages of one filter wait for one count rather
than each running its own. The JSON API's `$count` stays exact.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

TTL = 30.0  # seconds a count is shown before it is counted again
MAX_ENTRIES = 1024


@dataclass(frozen=True)
class RecentCount:
    """A count and how many seconds ago it was taken."""

    value: int
    age: float


class CountCache:
    """Counts by key, each reused for `ttl` seconds, one computation at a time per key."""

    def __init__(
        self,
        *,
        ttl: float = TTL,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._counts: OrderedDict[object, tuple[int, float]] = OrderedDict()
        self._locks: dict[object, asyncio.Lock] = {}

    async def get(self, key: object, count: Callable[[], Awaitable[int]]) -> RecentCount:
        """The count for `key`: a recent one, else `count()` (once, however many ask)."""
        found = self._fresh(key)
        if found is not None:
            return found
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._fresh(key)  # counted while this one waited
            if found is not None:
                return found
            value = await count()
            self._counts[key] = (value, self._clock())
            self._counts.move_to_end(key)
            while len(self._counts) > self._max:
                evicted, _ = self._counts.popitem(last=False)
                self._locks.pop(evicted, None)
        return RecentCount(value, 0.0)

    def _fresh(self, key: object) -> RecentCount | None:
        entry = self._counts.get(key)
        if entry is None:
            return None
        value, at = entry
        age = self._clock() - at
        if age > self._ttl:
            return None
        return RecentCount(value, age)


COUNTS_KEY = web.AppKey("device_counts", CountCache)
