"""Run one measurement in a fresh process, so its peak RSS is its own."""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """Wall time, items handled and peak resident memory of one run."""

    label: str
    seconds: float
    items: int
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        """Items per second."""
        return self.items / self.seconds if self.seconds else float("inf")


def _child(fn: Callable[..., int], args: tuple[Any, ...], queue: multiprocessing.Queue) -> None:
    try:
        started = time.perf_counter()
        items = fn(*args)
        seconds = time.perf_counter() - started
        # ru_maxrss is in KiB on Linux.
        queue.put((seconds, items, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, None))
    except BaseException as exc:  # reported to the parent, which raises
        queue.put((0.0, 0, 0.0, f"{type(exc).__name__}: {exc}"))


def measure(label: str, fn: Callable[..., int], *args: Any, repeat: int = 1) -> Measurement:
    """Run `fn(*args)` (returning how many items it handled) in a spawned process; best of `repeat`."""
    ctx = multiprocessing.get_context("spawn")
    best: Measurement | None = None
    for _ in range(repeat):
        queue = ctx.Queue()
        process = ctx.Process(target=_child, args=(fn, args, queue))
        process.start()
        seconds, items, rss, error = queue.get()
        process.join()
        if error:
            raise RuntimeError(f"{label}: {error}")
        run = Measurement(label, seconds, items, rss)
        if best is None or run.seconds < best.seconds:
            best = run
    assert best is not None
    return best


def report(title: str, rows: list[Measurement], notes: list[str]) -> None:
    """Print a benchmark's measurements and verdict lines."""
    print(f"\n{title}")
    width = max(len(r.label) for r in rows)
    for r in rows:
        print(
            f"  {r.label:<{width}}  {r.seconds:8.2f} s  {r.rate:12,.0f} /s  "
            f"{r.items:>10,} items  peak RSS {r.peak_rss_mb:7.1f} MB"
        )
    for note in notes:
        print(f"  {note}")
