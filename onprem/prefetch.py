"""Run a producer one step ahead in a background thread: fetch while the caller computes.

The site reader fetches chunk N+1 while it validates chunk N. Database work
runs with the GIL released (SQLite's engine, network waits on a server), so
the two overlap. Memory stays bounded by `depth` items plus the one in hand.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetched(Generic[T]):
    """Iterate `produce()` in a worker thread, `depth` items ahead of the consumer.

    Exceptions raised by the producer are raised again in the consumer's
    thread, at the point where the failed item would have been. `close()`
    (or leaving the `with` block) stops the producer and waits for it, so the
    producer's resources (a database cursor) are free again afterwards.
    """

    def __init__(
        self, produce: Callable[[], Iterator[T]], *, depth: int = 1, name: str = "prefetch"
    ) -> None:
        self._produce = produce
        self._items: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._produce():
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failure(exc))
            return
        self._put(_DONE)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the producer and wait until it has let go of its resources."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._items.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)

    def __enter__(self) -> Prefetched[T]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
