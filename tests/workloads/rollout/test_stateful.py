"""The rollout state machine under any sequence of commands, signals and time.

Checked after every step: the state survives persistence; admission matches
the phase; an ended rollout stays ended; admission never grows back after a
rollback or an abort; a stage starts only after the previous one was applied
and soaked for its whole soak time (pauses only add to it); completion comes
after the final stage was applied; operator commands are refused exactly
when the phase does not allow them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from workloads.rollout import (
    Abort,
    HealthSample,
    Pause,
    Resume,
    Rollback,
    RollbackApplied,
    RolloutPhase,
    RolloutRefused,
    RolloutState,
    StageApplied,
    Start,
    Tick,
    advance,
    new_rollout_state,
    parse_desired_state,
)
from workloads.rollout.events import RolloutEvent

P = RolloutPhase
T0 = datetime(2025, 3, 1, tzinfo=UTC)

# Which operator commands each phase allows.
ALLOWED = {
    Start: {P.PENDING},
    Pause: {P.APPLYING, P.SOAKING},
    Resume: {P.PAUSED},
    Rollback: {P.APPLYING, P.SOAKING, P.PAUSED},
    Abort: {P.PENDING, P.APPLYING, P.SOAKING, P.PAUSED, P.ROLLING_BACK},
}


def document(on_trip: str):
    return parse_desired_state(
        {
            "workloads": {"compliance": {"slider": "cloud"}},
            "rollout": {
                "name": "stateful",
                "waves": [
                    {"collections": ["PS100020"], "soak": "1h"},
                    {"percent": 10, "soak": 0},
                    {"percent": 50, "soak": "30m"},
                ],
                "gates": {"on_trip": on_trip, "max_failed_percent": 10, "max_conflicts": 0},
            },
        }
    )


class RolloutMachine(RuleBasedStateMachine):
    """Drives one rollout with arbitrary events and checks it after each."""

    @initialize(on_trip=st.sampled_from(["pause", "rollback"]))
    def begin(self, on_trip: str) -> None:
        self.document = document(on_trip)
        self.state = new_rollout_state(self.document.name, self.document.final_stage)
        self.now = T0
        self.applied_at: dict[int, datetime] = {}
        self.ended: RolloutPhase | None = None
        self.withdrawn = False  # a rollback or an abort happened

    def step(self, event: RolloutEvent) -> None:
        before = self.state
        try:
            outcome = advance(self.state, event, self.document)
        except RolloutRefused:
            assert type(event) in ALLOWED
            assert before.phase not in ALLOWED[type(event)] or not getattr(event, "reason", "x")
            return
        if type(event) in ALLOWED:
            assert before.phase in ALLOWED[type(event)]
        for entry in outcome.audit:
            assert entry["action"].startswith("rollout.")
            assert entry["details"]["rollout"] == "stateful"
            self.check_entry(entry)
        if not outcome.changed:
            assert outcome.state == before
        self.state = outcome.state

    def check_entry(self, entry: dict) -> None:
        action, details = entry["action"], entry["details"]
        if action == "rollout.stage_applied":
            self.applied_at[details["stage"]] = self.now
        elif action == "rollout.stage_started" and details["stage"] > 1:
            previous = details["stage"] - 1
            assert previous in self.applied_at
            soak = timedelta(seconds=self.document.soak_seconds(previous))
            assert self.now >= self.applied_at[previous] + soak
        elif action == "rollout.completed":
            assert self.document.final_stage in self.applied_at
        elif action in ("rollout.rollback_started", "rollout.aborted"):
            self.withdrawn = True

    @rule(minutes=st.integers(0, 90))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self.step(Tick(self.now))

    @rule(stage=st.integers(1, 4))
    def stage_settles(self, stage: int) -> None:
        self.step(StageApplied(stage, self.now))

    @rule()
    def rollback_settles(self) -> None:
        self.step(RollbackApplied(self.now))

    @rule(failed=st.integers(0, 5), conflicts=st.integers(0, 1))
    def health(self, failed: int, conflicts: int) -> None:
        self.step(HealthSample(self.now, handoffs=20, failed=failed, conflicts=conflicts))

    @rule()
    def start(self) -> None:
        self.step(Start(self.now, "op"))

    @rule()
    def pause(self) -> None:
        self.step(Pause(self.now, "op", "look"))

    @rule()
    def resume(self) -> None:
        self.step(Resume(self.now, "op"))

    @rule(reason=st.sampled_from(["", "bad"]))
    def rollback(self, reason: str) -> None:
        self.step(Rollback(self.now, "op", reason))

    @rule(reason=st.sampled_from(["", "bad"]))
    def abort(self, reason: str) -> None:
        self.step(Abort(self.now, "op", reason))

    @invariant()
    def persists(self) -> None:
        assert RolloutState.from_dict(self.state.to_dict()) == self.state

    @invariant()
    def admission_matches_the_phase(self) -> None:
        state = self.state
        if state.phase in (P.APPLYING, P.SOAKING, P.PAUSED, P.COMPLETED):
            assert state.admitted_through == state.stage >= 1
        else:
            assert state.admitted_through == 0
        if self.withdrawn:
            assert state.admitted_through == 0
        if state.phase is P.SOAKING:
            assert state.soak_until is not None
            longest = timedelta(seconds=self.document.soak_seconds(state.stage))
            assert self.now <= state.soak_until <= self.now + longest

    @invariant()
    def ended_stays_ended(self) -> None:
        if self.ended is not None:
            assert self.state.phase is self.ended
        elif self.state.terminal:
            self.ended = self.state.phase


TestRolloutMachine = RolloutMachine.TestCase
TestRolloutMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
