"""What moves a rollout: operator commands and the engine's signals, each with its time.

Operator commands (`Start`, `Pause`, `Resume`, `Abort`, `Rollback`) are
refused with `RolloutRefused` when the rollout's state does not allow them.
The engine's signals (`StageApplied`, `RollbackApplied`, `HealthSample`,
`Tick`) are idempotent: one that does not apply (a duplicate after a
restart, a tick with nothing due) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workloads.rollout.gates import HealthSample


@dataclass(frozen=True, slots=True)
class Start:
    """Start a pending rollout: stage 1 is admitted."""

    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class Pause:
    """Admit no further stage; the devices already admitted keep moving."""

    at: datetime
    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resume:
    """Go on from where the rollout was paused (a soak resumes with the time it had left)."""

    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class Abort:
    """End the rollout now: nobody is admitted any more, and nothing more is watched."""

    at: datetime
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rollback:
    """Return every admitted device to its prior holder, watched until the engine says it is done."""

    at: datetime
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class StageApplied:
    """Every handoff of stage `stage` has settled (the engine's signal)."""

    stage: int
    at: datetime


@dataclass(frozen=True, slots=True)
class RollbackApplied:
    """Every handoff returning devices to their prior holder has settled (the engine's signal)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Tick:
    """The time is now `at`: a soak that has run out ends."""

    at: datetime


OperatorCommand = Start | Pause | Resume | Abort | Rollback
RolloutEvent = OperatorCommand | StageApplied | RollbackApplied | HealthSample | Tick
