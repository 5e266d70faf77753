"""Health gates: a sample of the rollout's health, judged against the document's limits.

The engine counts, for the handoffs the rollout started, how many failed and
how many are stalled, how many conflicts (drift) its devices show, and, when
devices report compliance, how many report and how many are compliant. A
gate trips when a share is above its limit (equal is within it), when
conflicts exceed their limit, or when the compliance rate is below its
floor; the floor is skipped while no device reports compliance, and the
shares are 0 while no handoff was counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from workloads.rollout.document import HealthGates


@dataclass(frozen=True, slots=True)
class HealthSample:
    """The rollout's health at `at`: counts over the handoffs it started and its devices."""

    at: datetime
    handoffs: int
    failed: int = 0
    stalled: int = 0
    conflicts: int = 0
    compliance_reported: int = 0
    compliant: int = 0

    def __post_init__(self) -> None:
        counts = (
            self.handoffs,
            self.failed,
            self.stalled,
            self.conflicts,
            self.compliance_reported,
            self.compliant,
        )
        if any(count < 0 for count in counts):
            raise ValueError("health counts must not be negative")
        if self.failed > self.handoffs or self.stalled > self.handoffs:
            raise ValueError("failed and stalled handoffs are counted among the handoffs")
        if self.compliant > self.compliance_reported:
            raise ValueError("compliant devices are counted among those reporting")


class Gate(StrEnum):
    """One health gate."""

    FAILED = "failed_handoffs"
    STALLED = "stalled_handoffs"
    CONFLICTS = "conflicts"
    COMPLIANCE = "compliance"


@dataclass(frozen=True, slots=True)
class GateTrip:
    """One tripped gate, the figure observed, its limit, and a sentence naming both."""

    gate: Gate
    observed: float
    limit: float
    reason: str


@dataclass(frozen=True, slots=True)
class GateResult:
    """Every gate tripped by one sample (none: ok)."""

    trips: tuple[GateTrip, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no gate tripped."""
        return not self.trips

    @property
    def reason(self) -> str:
        """The tripped gates, e.g. "failed handoffs 7.1% (5 of 70) > 5%"; "" when ok."""
        return "; ".join(trip.reason for trip in self.trips)


def percent_text(value: float) -> str:
    """A percentage with at most one decimal: 7.14 -> "7.1%", 5.0 -> "5%"."""
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text}%"


def _beside(observed: float, limit: float) -> str:
    # 5.04% beside a 5% limit must not read "5% > 5%".
    text = percent_text(observed)
    return text if text != percent_text(limit) else f"{observed:.2f}%"


def _share(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def evaluate_gates(gates: HealthGates, sample: HealthSample) -> GateResult:
    """Judge `sample` against `gates`: every gate it trips, with the figures."""
    trips: list[GateTrip] = []
    for gate, count, limit, label in (
        (Gate.FAILED, sample.failed, gates.max_failed_percent, "failed handoffs"),
        (Gate.STALLED, sample.stalled, gates.max_stalled_percent, "stalled handoffs"),
    ):
        # Compared in counts, so rounding can neither trip nor hide a gate.
        if sample.handoffs and count * 100 > limit * sample.handoffs:
            share = _share(count, sample.handoffs)
            trips.append(
                GateTrip(
                    gate,
                    share,
                    limit,
                    f"{label} {_beside(share, limit)} ({count:,} of {sample.handoffs:,}) "
                    f"> {percent_text(limit)}",
                )
            )
    if sample.conflicts > gates.max_conflicts:
        trips.append(
            GateTrip(
                Gate.CONFLICTS,
                sample.conflicts,
                gates.max_conflicts,
                f"conflicts {sample.conflicts:,} > {gates.max_conflicts:,}",
            )
        )
    floor = gates.min_compliance_percent
    reported = sample.compliance_reported
    if floor is not None and reported and sample.compliant * 100 < floor * reported:
        rate = _share(sample.compliant, reported)
        trips.append(
            GateTrip(
                Gate.COMPLIANCE,
                rate,
                floor,
                f"compliance {_beside(rate, floor)} ({sample.compliant:,} of {reported:,} "
                f"reporting) < {percent_text(floor)}",
            )
        )
    return GateResult(tuple(trips))
