"""How the action relay schedules, retries and waits (from `[actions]`, or a test's own)."""

from __future__ import annotations

from dataclasses import dataclass

# The tenant keeps at most this many characters of an action's output.
MAX_RESULT_CHARS = 32_000


@dataclass(frozen=True)
class RelayOptions:
    """Concurrency limits, retries and waits of the action relay.

    `retry_attempts` counts every attempt of a transient failure (1: no
    retry); waits between attempts grow exponentially from
    `retry_initial_seconds` up to `retry_max_seconds`, with jitter.
    `backlog` is how many claimed actions may wait locally for a slot
    (default: four per global slot). `report_retry_seconds` is how long a
    failed claim, start or report waits before it is tried again.
    """

    device_concurrency: int = 1
    global_concurrency: int = 8
    retry_attempts: int = 3
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    poll_wait_seconds: float = 30.0
    report_retry_seconds: float = 5.0
    backlog: int | None = None
    max_result_chars: int = MAX_RESULT_CHARS

    def __post_init__(self) -> None:
        if self.device_concurrency < 1 or self.global_concurrency < 1:
            raise ValueError("concurrency limits must be at least 1")
        if self.retry_attempts < 1:
            raise ValueError("retry_attempts counts the first attempt: at least 1")

    @property
    def pending_limit(self) -> int:
        """How many claimed actions the relay holds at once (running or waiting for a slot)."""
        return self.backlog or 4 * self.global_concurrency
