"""When the cloud client tries a call again, how long it waits, and what it records.

A failed attempt is `Transient` when another attempt may succeed: a
connection error, a timeout, a 502/503/504 or a 429. Whether the client
actually tries again depends on the call's `RetryPolicy`: an idempotent call
(a GET, a PUT, a heartbeat, an ingest batch by its id) retries every transient
failure; a call that must not run twice retries only failures that prove the
service did not act on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tenacity import RetryCallState
from tenacity.wait import wait_base, wait_random_exponential

__all__ = [
    "CONNECT_ONLY",
    "IDEMPOTENT",
    "REFUSED_ONLY",
    "RETRY_STATUSES",
    "CallStats",
    "ClientStats",
    "RetryPolicy",
    "Transient",
    "WaitRetryAfterOrBackoff",
]

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Which transient failures of a call are tried again.

    `statuses`: the answers retried. `after_send`: whether failures that may
    have happened after the request reached the service (a reset, a read
    timeout) are retried; failures to connect at all always are.
    """

    name: str
    statuses: frozenset[int]
    after_send: bool

    def retries(self, failure: Transient) -> bool:
        """Whether this policy tries again after `failure`."""
        if failure.status is not None:
            return failure.status in self.statuses
        return self.after_send or not failure.sent


IDEMPOTENT = RetryPolicy("idempotent", RETRY_STATUSES, after_send=True)
# A 429 means the service refused the request before acting on it.
REFUSED_ONLY = RetryPolicy("refused-only", frozenset({429}), after_send=False)
# Enrollment spends a single-use attach code: only a request never sent is repeated.
CONNECT_ONLY = RetryPolicy("connect-only", frozenset(), after_send=False)


class Transient(Exception):
    """An attempt that failed in a way another attempt might not (internal to the client).

    `status` is set for a retryable HTTP answer, `sent` is False only when the
    request certainly never reached the service (the connection was not made).
    """

    def __init__(
        self,
        what: str,
        *,
        sent: bool,
        status: int | None = None,
        api_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.sent = sent
        self.status = status
        self.api_code = api_code
        self.retry_after = retry_after


class WaitRetryAfterOrBackoff(wait_base):
    """Wait what the service asked for (`Retry-After`), else exponential backoff with full jitter.

    Both are capped at `max_wait`.
    """

    def __init__(self, *, initial: float, max_wait: float) -> None:
        self._max_wait = max_wait
        self._backoff = wait_random_exponential(multiplier=initial, max=max_wait)

    def __call__(self, retry_state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, Transient) and failure.retry_after is not None:
            return min(failure.retry_after, self._max_wait)
        return float(self._backoff(retry_state))


@dataclass
class CallStats:
    """One call: how many attempts it made, how long it slept between them, why."""

    operation: str
    attempts: int = 0
    waited: float = 0.0
    throttled: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def retries(self) -> int:
        """Attempts after the first."""
        return max(0, self.attempts - 1)


@dataclass
class ClientStats:
    """Totals over a client's calls, so callers can report throttling and retries.

    `throttled` counts answers 429 and 503 (the service asking to slow down);
    `waited` is the time slept between attempts. `last` is the call that
    finished last (with calls in flight concurrently, compare totals instead).
    """

    calls: int = 0
    attempts: int = 0
    waited: float = 0.0
    throttled: int = 0
    failed: int = 0
    last: CallStats | None = None

    @property
    def retries(self) -> int:
        """Attempts beyond the first of each call."""
        return self.attempts - self.calls

    def record(self, call: CallStats, *, ok: bool) -> None:
        """Add a finished call to the totals."""
        self.calls += 1
        self.attempts += call.attempts
        self.waited += call.waited
        self.throttled += call.throttled
        self.failed += 0 if ok else 1
        self.last = call
