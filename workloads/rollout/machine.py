"""The rollout state machine: pure transitions, time passed in, audit events out.

`advance(state, event, document)` returns a `RolloutStep`: the new state and
the audit events (dicts with `action` and `details`) the engine appends to
its audit log in the same transaction as the state. The document supplies
the stages' labels, soak times and gates.

- pending --Start--> applying(1)
- applying(k) --StageApplied(k)--> soaking(k, until now + soak k); a soak of
  0 ends at once; when a soak ends (`Tick`), applying(k + 1), and after the
  final stage (which does not soak), completed.
- a `HealthSample` while applying, soaking or paused is judged by the gates;
  a trip pauses or rolls back, as the document's `on_trip` says (a paused
  rollout tripping a pause gate stays as it is).
- Pause / Resume: paused keeps the stage and, from soaking, the soak time
  left; the stage's handoffs go on while paused, and `StageApplied` is kept
  for the resume.
- Rollback (from applying, soaking, paused, or a tripped gate): rolling_back,
  nobody admitted; `RollbackApplied` ends it: rolled_back.
- Abort (from any phase not ended): aborted at once, nobody admitted, nothing
  more watched (the arbiter returns the devices to their prior holder on its
  next pass, as for a rollback). Nothing of a rollout is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from workloads.errors import DomainError
from workloads.rollout.document import DesiredState, GateAction
from workloads.rollout.errors import RolloutRefused
from workloads.rollout.events import (
    Abort,
    Pause,
    Resume,
    Rollback,
    RollbackApplied,
    RolloutEvent,
    StageApplied,
    Start,
    Tick,
)
from workloads.rollout.gates import HealthSample, evaluate_gates
from workloads.rollout.state import ADVANCING, RolloutPhase, RolloutState, seconds_between

P = RolloutPhase
AuditEvent = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RolloutStep:
    """A transition's outcome: the state to persist and the audit events to append with it."""

    state: RolloutState
    audit: tuple[AuditEvent, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether anything happened (a no-op signal returns no audit event)."""
        return bool(self.audit)


class _Machine:
    """One transition's context: the document, the event's time, the audit events so far."""

    def __init__(self, document: DesiredState, at: datetime) -> None:
        self.document = document
        self.at = at
        self.audit: list[AuditEvent] = []

    def record(self, state: RolloutState, action: str, /, **details: Any) -> None:
        base: dict[str, Any] = {"rollout": state.rollout, "at": self.at.isoformat()}
        if 1 <= state.stage <= state.final_stage:
            base |= {"stage": state.stage, "label": self.document.stage_label(state.stage)}
        self.audit.append({"action": f"rollout.{action}", "details": base | details})

    def move(self, state: RolloutState, **changes: Any) -> RolloutState:
        values = state.model_dump() | {
            "soak_until": None,
            "paused_from": None,
            "soak_left_seconds": None,
            "updated_at": self.at,
        }
        return RolloutState.model_validate(values | changes)

    def begin_stage(self, state: RolloutState, stage: int) -> RolloutState:
        new = self.move(state, phase=P.APPLYING, stage=stage, reason=None)
        self.record(new, "stage_started")
        return new

    def soak(self, state: RolloutState, seconds: int) -> RolloutState:
        """Soak the current stage for `seconds`; a soak with nothing left ends now."""
        if seconds <= 0:
            return self.soak_done(state)
        until = self.at + timedelta(seconds=seconds)
        new = self.move(state, phase=P.SOAKING, soak_until=until, reason=None)
        self.record(new, "soak_started", soak_until=until.isoformat(), seconds=seconds)
        return new

    def soak_done(self, state: RolloutState) -> RolloutState:
        if state.stage >= state.final_stage:
            new = self.move(state, phase=P.COMPLETED, reason=None)
            self.record(new, "completed")
            return new
        return self.begin_stage(state, state.stage + 1)

    def rollback(self, state: RolloutState, reason: str, by: str) -> RolloutState:
        new = self.move(state, phase=P.ROLLING_BACK, reason=reason)
        self.record(new, "rollback_started", by=by, reason=reason)
        return new


def describe_state(state: RolloutState, document: DesiredState) -> str:
    """One line for `status`: "soaking wave 2 (10%) until 2025-03-01T10:00:00+00:00"."""
    label = document.stage_label(state.stage) if state.stage else ""
    match state.phase:
        case P.PENDING:
            return "pending: not started"
        case P.APPLYING:
            return f"applying {label}"
        case P.SOAKING:
            assert state.soak_until is not None  # guaranteed by RolloutState._shape
            return f"soaking {label} until {state.soak_until.isoformat()}"
        case P.PAUSED:
            return f"paused at {label}: {state.reason}"
        case P.COMPLETED:
            return "completed"
    where = f" at {label}" if label else ""
    return f"{state.phase.value.replace('_', ' ')}{where}: {state.reason}"


def _refuse(state: RolloutState, command: str, hint: str) -> RolloutRefused:
    return RolloutRefused(
        f"cannot {command} rollout {state.rollout!r}: it is {state.phase.value.replace('_', ' ')}",
        hint=hint,
    )


def advance(state: RolloutState, event: RolloutEvent, document: DesiredState) -> RolloutStep:
    """Apply `event` to `state` (see the module docstring); operator commands may be refused."""
    if state.final_stage != document.final_stage or state.rollout != document.name:
        raise DomainError(
            f"rollout {state.rollout!r} with {state.final_stage} stages does not belong to the "
            f"document of rollout {document.name!r} with {document.final_stage}",
            hint="advance a rollout with the document it was started from",
        )
    if event.at.tzinfo is None:
        raise DomainError("rollout events need a timezone-aware time")
    machine = _Machine(document, event.at)
    new = _transition(machine, state, event)
    return RolloutStep(new, tuple(machine.audit))


def _transition(m: _Machine, state: RolloutState, event: RolloutEvent) -> RolloutState:
    phase = state.phase
    match event:
        case Start(by=by):
            if phase is not P.PENDING:
                raise _refuse(state, "start", "a rollout starts once; see its status")
            m.record(state, "started", by=by)
            return m.begin_stage(state, 1)
        case StageApplied(stage=stage) if stage == state.stage:
            return _stage_applied(m, state)
        case Tick(at=at) if phase is P.SOAKING and state.soak_until and at >= state.soak_until:
            return m.soak_done(state)
        case HealthSample() if phase in ADVANCING:
            return _judge(m, state, event)
        case RollbackApplied() if phase is P.ROLLING_BACK:
            new = m.move(state, phase=P.ROLLED_BACK)
            m.record(new, "rolled_back")
            return new
        case Pause(by=by, reason=reason):
            if phase not in (P.APPLYING, P.SOAKING):
                raise _refuse(state, "pause", "only an applying or soaking rollout can pause")
            return _pause(m, state, reason.strip() or f"paused by {by}", by)
        case Resume(by=by):
            if phase is not P.PAUSED:
                raise _refuse(state, "resume", "only a paused rollout can resume")
            return _resume(m, state, by)
        case Rollback(by=by, reason=reason):
            if phase not in ADVANCING:
                raise _refuse(state, "roll back", _ROLLBACK_HINTS.get(phase, "it has ended"))
            return m.rollback(state, _needs_reason(reason, "rollback"), by)
        case Abort(by=by, reason=reason):
            if state.terminal:
                raise _refuse(state, "abort", "the rollout has already ended")
            new = m.move(state, phase=P.ABORTED, reason=_needs_reason(reason, "abort"))
            m.record(new, "aborted", by=by, reason=new.reason, was=phase.value)
            return new
    return state  # an engine signal that does not apply now: nothing happens


_ROLLBACK_HINTS = {
    P.PENDING: "a pending rollout has admitted nobody: abort it instead",
    P.ROLLING_BACK: "the rollback is under way; see the rollout's status",
    P.COMPLETED: "to undo a completed rollout, plan and apply the earlier sliders",
}


def _needs_reason(reason: str, command: str) -> str:
    if not reason.strip():
        raise RolloutRefused(f"{command} needs a reason", hint="say why, for the audit log")
    return reason.strip()


def _stage_applied(m: _Machine, state: RolloutState) -> RolloutState:
    soak = m.document.soak_seconds(state.stage)
    if state.phase is P.APPLYING:
        m.record(state, "stage_applied")
        return m.soak(state, soak)
    if state.phase is P.PAUSED and state.paused_from is P.APPLYING:
        new = m.move(
            state,
            phase=P.PAUSED,
            paused_from=P.SOAKING,
            soak_left_seconds=soak,
            reason=state.reason,
        )
        m.record(new, "stage_applied", paused=True)
        return new
    return state


def _judge(m: _Machine, state: RolloutState, sample: HealthSample) -> RolloutState:
    result = evaluate_gates(m.document.gates, sample)
    if result.ok:
        return state
    action = m.document.gates.on_trip
    if action is GateAction.PAUSE and state.phase is P.PAUSED:
        return state  # already paused: the trip changes nothing, and is not logged again
    reason = f"gate tripped: {result.reason}"
    m.record(
        state,
        "gate_tripped",
        gates=[trip.gate.value for trip in result.trips],
        reason=result.reason,
        action=action.value,
        sample={
            "handoffs": sample.handoffs,
            "failed": sample.failed,
            "stalled": sample.stalled,
            "conflicts": sample.conflicts,
            "compliance_reported": sample.compliance_reported,
            "compliant": sample.compliant,
        },
    )
    if action is GateAction.ROLLBACK:
        return m.rollback(state, reason, "gate")
    return _pause(m, state, reason, "gate")


def _pause(m: _Machine, state: RolloutState, reason: str, by: str) -> RolloutState:
    left = None
    if state.phase is P.SOAKING and state.soak_until is not None:
        left = seconds_between(m.at, state.soak_until)
    new = m.move(
        state, phase=P.PAUSED, paused_from=state.phase, soak_left_seconds=left, reason=reason
    )
    m.record(new, "paused", by=by, reason=reason, **({"soak_left_seconds": left} if left else {}))
    return new


def _resume(m: _Machine, state: RolloutState, by: str) -> RolloutState:
    m.record(state, "resumed", by=by)
    if state.paused_from is P.SOAKING:
        return m.soak(state, state.soak_left_seconds or 0)
    return m.move(state, phase=P.APPLYING, reason=None)
