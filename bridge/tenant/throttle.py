"""Pacing every call of one client after the service asks it to slow down.

Honouring `Retry-After` per call is not enough when several calls travel at
once (the connector keeps several batches in flight): each would be refused
in turn, and under a Graph-style budget (200 writes per 20 s) every request
in flight when the budget runs out is one more 429. So a `ThrottleGovernor`
is shared by all calls of a client:

- after a 429 or 503, no call of the client starts before the `Retry-After`
  the service gave (a gate, not only the refused call's own wait);
- for `cooldown` seconds after the last such answer, one call at a time
  (so at most one request finds the budget spent), then the full concurrency
  again.

The service's budget is then used to the end of each window while about one
request per window is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable


class ThrottleGovernor:
    """A shared gate and an adaptive concurrency limit for one client's calls."""

    def __init__(
        self,
        max_concurrency: int,
        *,
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._max = max_concurrency
        self._cooldown = cooldown
        self._clock = clock
        self._not_before = 0.0
        self._last_throttle: float | None = None
        self._in_use = 0
        self._changed: asyncio.Condition | None = None
        self.gated_seconds = 0.0

    @property
    def limit(self) -> int:
        """Calls allowed at once now."""
        if self._last_throttle is not None and self._clock() - self._last_throttle < self._cooldown:
            return 1
        return self._max

    def throttled(self, retry_after: float | None) -> None:
        """The service answered 429/503 (with `Retry-After` seconds, if it said)."""
        now = self._clock()
        self._last_throttle = now
        if retry_after is not None:
            self._not_before = max(self._not_before, now + retry_after)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the calls allowed at once, after the gate opens."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        changed = self._changed
        async with changed:
            await changed.wait_for(lambda: self._in_use < self.limit)
            self._in_use += 1
        try:
            delay = self._not_before - self._clock()
            while delay > 0:
                self.gated_seconds += delay
                await asyncio.sleep(delay)
                delay = self._not_before - self._clock()
            yield
        finally:
            async with changed:
                self._in_use -= 1
                changed.notify_all()
