"""What the fault proxy does to each request, and the record of what it did.

`FaultPlan` decides, deterministically for its seed, whether a request is
passed through or meets a fault; `RateLimit` models Graph-style throttling of
writes; `ProxyLog` keeps one `LogEntry` per request and answers the questions
tests and benchmarks ask of it: how many of each action, whether the client
waited as long as each `Retry-After` asked, and what rate the throttle let through.

Nothing here touches the network; `tests.support.fault_proxy` applies the decisions.
"""

from __future__ import annotations

import copy
import math
import random
import threading
from collections import Counter, deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "FAULTS",
    "WRITE_METHODS",
    "FaultPlan",
    "LogEntry",
    "ProxyLog",
    "RateLimit",
    "RetryAfterViolation",
    "ThrottleStats",
]

# Fault kinds, in the order probabilities are stacked when drawing.
FAULTS = ("429", "500", "503", "reset", "reset_after", "timeout", "slow_body")
# Faults answered or dropped by the proxy itself: the upstream never sees the request.
BEFORE_FORWARDING = frozenset({"429", "500", "503", "reset", "timeout"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class RateLimit:
    """A sliding window of `writes` admitted writes per `per_seconds` (Graph: 200 per 20 s).

    Any interval of `per_seconds` holds at most `writes` admissions. A write
    over the limit waits for nothing: it is refused, with the whole seconds
    (at least 1) until the oldest admission leaves the window.
    """

    writes: int = 200
    per_seconds: float = 20.0
    admitted: int = 0
    throttled: int = 0
    _window: deque[float] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        if self.writes < 1 or self.per_seconds <= 0:
            raise ValueError("a rate limit needs writes >= 1 and per_seconds > 0")

    def admit(self, now: float) -> int:
        """Admit a write arriving at `now` (monotonic): 0, or the Retry-After to answer."""
        while self._window and self._window[0] <= now - self.per_seconds:
            self._window.popleft()
        if len(self._window) < self.writes:
            self._window.append(now)
            self.admitted += 1
            return 0
        self.throttled += 1
        return max(1, math.ceil(self._window[0] + self.per_seconds - now))

    @property
    def allowed_rate(self) -> float:
        """Writes per second the limit allows in the long run."""
        return self.writes / self.per_seconds


@dataclass
class FaultPlan:
    """Which requests meet which fault: deterministic for a given seed and arrival order.

    Only requests whose path starts with `path_prefix` (and whose method is in
    `methods`, when given) are eligible; each eligible request first takes the
    next entry of `script` (a fault kind or "pass"), and once the script is
    spent, one draw from the seeded generator against `probabilities`
    (fault kind -> probability, summing to at most 1). Ineligible requests
    draw nothing, so unrelated traffic never shifts the sequence.

    `retry_after` is sent with injected 429 and 503 answers; `timeout` holds
    a request `hold_seconds` and then drops it; `slow_body` sends the answer
    in chunks of `slow_chunk_bytes` with `slow_chunk_delay` seconds between.
    `rate_limit` throttles the writes that would reach the upstream.
    """

    seed: int = 0
    probabilities: Mapping[str, float] = field(default_factory=dict)
    script: Sequence[str] = ()
    path_prefix: str = "/connector/"
    methods: Collection[str] | None = None
    retry_after: int = 1
    hold_seconds: float = 3.0
    slow_chunk_bytes: int = 64
    slow_chunk_delay: float = 0.05
    rate_limit: RateLimit | None = None
    _rng: random.Random = field(init=False, repr=False)
    _drawn: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = (set(self.probabilities) | set(self.script)) - {*FAULTS, "pass"}
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULTS}")
        odds = list(self.probabilities.values())
        if min(odds, default=0.0) < 0 or sum(odds) > 1 + 1e-9:
            raise ValueError("fault probabilities must be >= 0 and sum to at most 1")
        if self.retry_after < 0 or self.hold_seconds < 0 or self.slow_chunk_bytes < 1:
            raise ValueError("retry_after, hold_seconds >= 0 and slow_chunk_bytes >= 1 needed")
        self.methods = None if self.methods is None else {m.upper() for m in self.methods}
        self._rng = random.Random(self.seed)

    def eligible(self, method: str, path: str) -> bool:
        """Whether a request may meet a fault or the rate limit at all."""
        if not path.startswith(self.path_prefix):
            return False
        return self.methods is None or method.upper() in self.methods

    def decide(self, method: str, path: str) -> str:
        """The action for the next request: "pass" or a fault kind (consumes a decision)."""
        if not self.eligible(method, path):
            return "pass"
        index = self._drawn
        self._drawn += 1
        if index < len(self.script):
            return self.script[index]
        return self._draw(self._rng)

    def preview(self, count: int) -> list[str]:
        """The first `count` decisions a fresh plan of this seed makes for eligible requests."""
        rng = random.Random(self.seed)
        scripted = list(self.script[:count])
        return scripted + [self._draw(rng) for _ in range(count - len(scripted))]

    def _draw(self, rng: random.Random) -> str:
        roll = rng.random()
        for kind in FAULTS:
            roll -= self.probabilities.get(kind, 0.0)
            if roll < 0:
                return kind
        return "pass"


@dataclass
class LogEntry:
    """One request as the proxy saw it and what it did about it.

    `action` is "forwarded", "throttled" (the rate limit's 429),
    "upstream_error" (502 from the proxy) or a fault kind; `status` is what
    the client was answered (None: dropped without an answer); `answered` the
    monotonic time the answer was sent or the connection dropped.
    """

    seq: int
    received: float
    method: str
    path: str
    peer: str
    action: str = "pending"
    status: int | None = None
    retry_after: int | None = None
    answered: float | None = None
    upstream_status: int | None = None
    body_digest: str = ""
    admitted: bool = False


@dataclass(frozen=True)
class RetryAfterViolation:
    """A request that came back sooner than the Retry-After of the answer before it."""

    answer: LogEntry
    retry: LogEntry

    @property
    def waited(self) -> float:
        """Seconds between the answer and the next request."""
        assert self.answer.answered is not None
        return self.retry.received - self.answer.answered


@dataclass(frozen=True)
class ThrottleStats:
    """What the rate limit let through, and how often the client was told to slow down.

    `admitted_rate` counts admitted writes in the whole windows of the busy
    period (first admitted write, plus as many full windows as fit before the
    last one) so a client that waits out each window is not flattered by the
    final burst; with a sliding window it never exceeds `allowed_rate`.
    """

    requests: int
    writes: int
    admitted_writes: int
    throttled: int
    answered_429: int
    share_429: float
    busy_seconds: float
    admitted_rate: float
    allowed_rate: float

    @property
    def utilisation(self) -> float:
        """`admitted_rate` as a share of `allowed_rate`."""
        return self.admitted_rate / self.allowed_rate if self.allowed_rate else 0.0


class ProxyLog:
    """Every request the proxy received, in arrival order; safe to read from other threads.

    `limit` is the rate limit in force, which `throttle_stats` measures against.
    """

    def __init__(self, limit: RateLimit | None = None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []

    def begin(self, received: float, method: str, path: str, peer: str) -> LogEntry:
        """Record a request as it arrives; `finish` completes the entry."""
        with self._lock:
            entry = LogEntry(len(self._entries), received, method, path, peer)
            self._entries.append(entry)
            return entry

    def finish(self, entry: LogEntry, **fields: object) -> None:
        """Set fields of an entry (under the lock, so readers see whole updates)."""
        with self._lock:
            for name, value in fields.items():
                setattr(entry, name, value)

    def entries(self) -> list[LogEntry]:
        """Copies of every entry so far, in arrival order."""
        with self._lock:
            return [copy.copy(e) for e in self._entries]

    def counts(self) -> Counter[str]:
        """How many requests met each action."""
        return Counter(e.action for e in self.entries())

    def retry_after_violations(
        self, tolerance: float = 0.2, *, match: Literal["path", "request"] = "path"
    ) -> list[RetryAfterViolation]:
        """Answers with Retry-After R followed sooner than R - `tolerance` s by the next request.

        "Next" is the next arrival with the same method and path, or with
        `match="request"` also the same body (a retry of that very request,
        which tells a retry apart from other uploads already in flight).
        """
        entries = self.entries()
        violations = []
        for index, answer in enumerate(entries):
            if answer.status not in (429, 503) or answer.retry_after is None:
                continue
            key = _key(answer, match)
            retry = next((e for e in entries[index + 1 :] if _key(e, match) == key), None)
            if retry is None or answer.answered is None:
                continue
            if retry.received < answer.answered + answer.retry_after - tolerance:
                violations.append(RetryAfterViolation(answer, retry))
        return violations

    def throttle_stats(self) -> ThrottleStats:
        """Admitted writes, 429s and the observed admitted-write rate (see `ThrottleStats`)."""
        limit = self.limit
        entries = self.entries()
        admitted = sorted(e.received for e in entries if e.admitted)
        throttled = sum(e.action == "throttled" for e in entries)
        answered_429 = sum(e.status == 429 for e in entries)
        per = limit.per_seconds if limit else 1.0
        busy = admitted[-1] - admitted[0] if admitted else 0.0
        windows = math.floor(busy / per)
        if windows >= 1:
            end = admitted[0] + windows * per
            rate = sum(t < end for t in admitted) / (windows * per)
        else:
            rate = len(admitted) / per
        return ThrottleStats(
            requests=len(entries),
            writes=len(admitted) + throttled,
            admitted_writes=len(admitted),
            throttled=throttled,
            answered_429=answered_429,
            share_429=answered_429 / len(entries) if entries else 0.0,
            busy_seconds=busy,
            admitted_rate=rate,
            allowed_rate=limit.allowed_rate if limit else 0.0,
        )


def _key(entry: LogEntry, match: str) -> tuple[str, ...]:
    if match == "request":
        return (entry.method, entry.path, entry.body_digest)
    return (entry.method, entry.path)
