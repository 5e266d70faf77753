"""Wake-ups for connectors long-polling for actions, within one service process.

A connector's claim waits on its hierarchy's event; queuing an action sets
it. The event only shortens the wait inside this process: an action queued
by another worker is found by the claim's periodic look at the store
(`RECHECK_SECONDS`), so several workers over one database stay correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cloud.service.state import ServiceState

T = TypeVar("T")
# How often a waiting claim looks at the store for actions another worker queued.
RECHECK_SECONDS = 2.0
Key = tuple[str, str]


class ActionSignals:
    """One event per (tenant, hierarchy): set when an action is queued, then replaced."""

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}

    def current(self, key: Key) -> asyncio.Event:
        """The event the next notification of `key` sets (take it before looking)."""
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    def notify(self, key: Key) -> None:
        """Wake every claim waiting for `key`; later waiters get a fresh event."""
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    async def wait_for(
        self,
        key: Key,
        look: Callable[[], Awaitable[list[T]]],
        wait: float,
        *,
        recheck: float = RECHECK_SECONDS,
    ) -> list[T]:
        """`look()` until it finds something or `wait` seconds passed; its last answer.

        Looks at once, then again after each notification of `key` and at
        least every `recheck` seconds.
        """
        deadline = time.monotonic() + wait
        while True:
            event = self.current(key)  # before the look: a notification during it still counts
            found = await look()
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(remaining, recheck))


# One set of signals per service state (keyed by its engine: the state is not hashable).
_SIGNALS: weakref.WeakKeyDictionary[object, ActionSignals] = weakref.WeakKeyDictionary()


def signals_for(state: ServiceState) -> ActionSignals:
    """The signals shared by both listeners of `state`."""
    signals = _SIGNALS.get(state.engine)
    if signals is None:
        signals = _SIGNALS[state.engine] = ActionSignals()
    return signals
