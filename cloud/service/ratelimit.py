"""A token-bucket rate limit per connector, answering with the wait to advise.

Kept in the worker's memory: with N workers behind a balancer a connector
may get up to N times the rate, which bounds abuse without shared state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    """`per_minute` requests per key, with bursts up to the same number."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0 if granted, else the seconds to wait (Retry-After)."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return math.ceil((1.0 - tokens) / self._rate)
