"""The rollout state machine: stages and soaks, pause and resume, abort, rollback, gates that
trip (and the sentence naming them), refusals, idempotent signals, and persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workloads.errors import DomainError
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
    describe_state,
    evaluate_gates,
    new_rollout_state,
    parse_desired_state,
)
from workloads.rollout.gates import Gate

P = RolloutPhase
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def doc(on_trip: str = "pause", **gates: object):
    return parse_desired_state(
        {
            "workloads": {"compliance": {"slider": "cloud"}},
            "rollout": {
                "name": "machine",
                "waves": [
                    {"collections": ["PS100020"], "soak": "1h"},
                    {"percent": 10, "soak": 0},
                    {"percent": 50, "soak": "2h"},
                ],
                "gates": {"on_trip": on_trip, **gates},
            },
        }
    )


DOC = doc()


def run(state: RolloutState, *events, document=DOC) -> tuple[RolloutState, list[dict]]:
    audit: list[dict] = []
    for event in events:
        step = advance(state, event, document)
        state = step.state
        audit.extend(step.audit)
    return state, audit


def actions(audit: list[dict]) -> list[str]:
    return [entry["action"].removeprefix("rollout.") for entry in audit]


def started(document=DOC) -> RolloutState:
    return run(
        new_rollout_state(document.name, document.final_stage), Start(T0, "ana"), document=document
    )[0]


def test_a_rollout_runs_every_stage_to_completion() -> None:
    state = new_rollout_state(DOC.name, DOC.final_stage)
    assert (state.phase, state.admitted_through) == (P.PENDING, 0)
    state, audit = run(state, Start(T0, "ana"))
    assert (state.phase, state.stage, state.admitted_through) == (P.APPLYING, 1, 1)
    assert actions(audit) == ["started", "stage_started"]
    assert audit[0]["details"] == {
        "rollout": "machine",
        "at": T0.isoformat(),
        "by": "ana",
    }
    assert audit[1]["details"]["label"] == "wave 1 (PS100020)"

    state, audit = run(state, StageApplied(1, T0 + HOUR))
    assert (state.phase, state.soak_until) == (P.SOAKING, T0 + 2 * HOUR)
    assert actions(audit) == ["stage_applied", "soak_started"]
    state, audit = run(state, Tick(T0 + 2 * HOUR - timedelta(seconds=1)))
    assert (state.phase, audit) == (P.SOAKING, [])
    state, audit = run(state, Tick(T0 + 2 * HOUR))
    assert (state.phase, state.stage, state.admitted_through) == (P.APPLYING, 2, 2)
    assert actions(audit) == ["stage_started"]

    # Wave 2 has no soak: applied means wave 3 starts at once.
    state, audit = run(state, StageApplied(2, T0 + 3 * HOUR))
    assert (state.phase, state.stage) == (P.APPLYING, 3)
    assert actions(audit) == ["stage_applied", "stage_started"]
    state, _ = run(state, StageApplied(3, T0 + 4 * HOUR), Tick(T0 + 6 * HOUR))
    assert (state.phase, state.stage, state.admitted_through) == (P.APPLYING, 4, 4)
    state, audit = run(state, StageApplied(4, T0 + 7 * HOUR))
    assert (state.phase, state.admitted_through, state.terminal) == (P.COMPLETED, 4, True)
    assert actions(audit) == ["stage_applied", "completed"]
    assert audit[-1]["details"]["label"] == "final (the rest)"


def test_engine_signals_that_do_not_apply_change_nothing() -> None:
    state = started()
    for event in (
        StageApplied(2, T0),  # not the stage in progress
        Tick(T0 + 10 * HOUR),  # nothing soaking
        RollbackApplied(T0),  # nothing rolling back
        HealthSample(T0, handoffs=10),  # healthy
    ):
        step = advance(state, event, DOC)
        assert step.state == state
        assert not step.changed
    soaking, _ = run(state, StageApplied(1, T0))
    assert advance(soaking, StageApplied(1, T0 + HOUR), DOC).state == soaking  # a duplicate


def test_pause_keeps_the_soak_time_left_and_resume_gives_it_back() -> None:
    state, _ = run(started(), StageApplied(1, T0))  # soaks until T0 + 1h
    state, audit = run(state, Pause(T0 + timedelta(minutes=20), "ben", "checking tickets"))
    assert (state.phase, state.paused_from, state.soak_left_seconds) == (P.PAUSED, P.SOAKING, 2400)
    assert state.admitted_through == 1
    assert audit[0]["details"]["reason"] == "checking tickets"
    # Time passes while paused: no stage starts.
    state, audit = run(state, Tick(T0 + 5 * HOUR))
    assert (state.phase, audit) == (P.PAUSED, [])
    state, audit = run(state, Resume(T0 + 5 * HOUR, "ben"))
    assert (state.phase, state.soak_until) == (P.SOAKING, T0 + 5 * HOUR + timedelta(minutes=40))
    assert actions(audit) == ["resumed", "soak_started"]


def test_a_stage_that_settles_while_paused_soaks_after_the_resume() -> None:
    state, _ = run(started(), Pause(T0, "ben"))
    assert (state.paused_from, state.reason) == (P.APPLYING, "paused by ben")
    state, audit = run(state, StageApplied(1, T0 + HOUR))
    assert (state.phase, state.paused_from, state.soak_left_seconds) == (P.PAUSED, P.SOAKING, 3600)
    assert actions(audit) == ["stage_applied"]
    state, _ = run(state, Resume(T0 + 2 * HOUR, "ben"))
    assert (state.phase, state.soak_until) == (P.SOAKING, T0 + 3 * HOUR)


def test_resume_of_a_paused_stage_still_applying() -> None:
    state, _ = run(started(), Pause(T0, "ben"), Resume(T0 + HOUR, "ben"))
    assert (state.phase, state.stage, state.reason) == (P.APPLYING, 1, None)


def test_rollback_is_watched_until_the_engine_reports_it_done() -> None:
    state, _ = run(started(), StageApplied(1, T0), Tick(T0 + HOUR))
    state, audit = run(state, Rollback(T0 + 2 * HOUR, "ana", "helpdesk calls"))
    assert (state.phase, state.stage, state.admitted_through) == (P.ROLLING_BACK, 2, 0)
    assert audit[0]["action"] == "rollout.rollback_started"
    assert audit[0]["details"]["reason"] == "helpdesk calls"
    # Gates and stages no longer matter.
    bad = HealthSample(T0, handoffs=10, failed=10)
    assert advance(state, bad, DOC).state == state
    assert advance(state, StageApplied(2, T0), DOC).state == state
    state, audit = run(state, RollbackApplied(T0 + 3 * HOUR))
    assert (state.phase, state.terminal, state.admitted_through) == (P.ROLLED_BACK, True, 0)
    assert actions(audit) == ["rolled_back"]


def test_abort_ends_at_once_from_any_phase_not_ended() -> None:
    for state in (
        new_rollout_state(DOC.name, DOC.final_stage),
        started(),
        run(started(), Pause(T0, "ben"))[0],
        run(started(), Rollback(T0, "ben", "why not"))[0],
    ):
        aborted, audit = run(state, Abort(T0 + HOUR, "cy", "wrong document"))
        assert (aborted.phase, aborted.admitted_through) == (P.ABORTED, 0)
        assert (
            audit[0]["details"] | {"by": "cy", "reason": "wrong document", "was": state.phase.value}
            == audit[0]["details"]
        )


@pytest.mark.parametrize(
    ("setup", "command", "says"),
    [
        ([], Pause(T0, "x"), "cannot pause rollout 'machine': it is pending"),
        ([], Resume(T0, "x"), "cannot resume"),
        ([], Rollback(T0, "x", "r"), "abort it instead"),
        ([Start(T0, "x")], Start(T0, "x"), "cannot start"),
        ([Start(T0, "x")], Resume(T0, "x"), "only a paused rollout"),
        ([Start(T0, "x"), Pause(T0, "x")], Pause(T0, "x"), "it is paused"),
        ([Start(T0, "x"), Rollback(T0, "x", "r")], Rollback(T0, "x", "r"), "under way"),
        ([Start(T0, "x"), Abort(T0, "x", "r")], Abort(T0, "x", "r"), "already ended"),
        ([Start(T0, "x"), Abort(T0, "x", "r")], Resume(T0, "x"), "it is aborted"),
        ([Start(T0, "x")], Rollback(T0, "x", "  "), "needs a reason"),
        ([Start(T0, "x")], Abort(T0, "x", ""), "needs a reason"),
    ],
)
def test_operator_commands_refused_with_a_reason(setup, command, says: str) -> None:
    state, _ = run(new_rollout_state(DOC.name, DOC.final_stage), *setup)
    with pytest.raises(RolloutRefused) as caught:
        advance(state, command, DOC)
    assert says in str(caught.value)
    assert caught.value.hint


def test_a_completed_rollout_cannot_be_rolled_back_here() -> None:
    one_stage = parse_desired_state({"workloads": {"compliance": {"slider": "cloud"}}})
    state, _ = run(
        new_rollout_state(one_stage.name, 1),
        Start(T0, "x"),
        StageApplied(1, T0),
        document=one_stage,
    )
    assert state.phase is P.COMPLETED
    with pytest.raises(RolloutRefused, match="completed") as caught:
        advance(state, Rollback(T0, "x", "undo"), one_stage)
    assert "earlier sliders" in (caught.value.hint or "")


def test_gate_evaluation_names_the_gate_and_the_figures() -> None:
    gates = doc(
        max_failed_percent=5, max_stalled_percent=2, max_conflicts=1, min_compliance_percent=90
    ).gates
    result = evaluate_gates(
        gates,
        HealthSample(
            T0,
            handoffs=70,
            failed=5,
            stalled=1,
            conflicts=3,
            compliance_reported=1000,
            compliant=852,
        ),
    )
    assert [trip.gate for trip in result.trips] == [Gate.FAILED, Gate.CONFLICTS, Gate.COMPLIANCE]
    assert result.reason == (
        "failed handoffs 7.1% (5 of 70) > 5%; conflicts 3 > 1; "
        "compliance 85.2% (852 of 1,000 reporting) < 90%"
    )
    assert not result.ok


def test_gate_limits_are_inclusive_and_figures_never_read_equal_to_the_limit() -> None:
    gates = doc(max_failed_percent=5).gates
    assert evaluate_gates(gates, HealthSample(T0, handoffs=100, failed=5)).ok
    tripped = evaluate_gates(gates, HealthSample(T0, handoffs=10_000, failed=504))
    assert tripped.reason == "failed handoffs 5.04% (504 of 10,000) > 5%"


def test_no_handoffs_and_no_compliance_reports_trip_nothing() -> None:
    gates = doc(min_compliance_percent=99).gates
    assert evaluate_gates(gates, HealthSample(T0, handoffs=0)).ok
    assert evaluate_gates(gates, HealthSample(T0, handoffs=5, compliance_reported=0)).ok
    assert not evaluate_gates(
        gates, HealthSample(T0, handoffs=5, compliance_reported=10, compliant=9)
    ).ok


@pytest.mark.parametrize(
    "counts",
    [
        {"handoffs": -1},
        {"handoffs": 1, "failed": 2},
        {"handoffs": 1, "stalled": 2},
        {"handoffs": 0, "compliance_reported": 1, "compliant": 2},
    ],
)
def test_impossible_samples_are_refused(counts: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        HealthSample(T0, **counts)


def test_a_tripped_gate_pauses_when_the_document_says_pause() -> None:
    state, _ = run(started(), StageApplied(1, T0))
    state, audit = run(state, HealthSample(T0 + timedelta(minutes=30), handoffs=20, stalled=2))
    assert (state.phase, state.paused_from, state.soak_left_seconds) == (P.PAUSED, P.SOAKING, 1800)
    assert state.reason == "gate tripped: stalled handoffs 10% (2 of 20) > 5%"
    assert actions(audit) == ["gate_tripped", "paused"]
    assert audit[0]["details"]["gates"] == ["stalled_handoffs"]
    assert audit[0]["details"]["action"] == "pause"
    assert audit[1]["details"]["by"] == "gate"
    # Tripping again while paused is not logged again.
    again = advance(state, HealthSample(T0 + HOUR, handoffs=20, stalled=3), DOC)
    assert again.state == state
    assert not again.changed


def test_a_tripped_gate_rolls_back_when_the_document_says_rollback() -> None:
    document = doc("rollback")
    state, _ = run(started(document), Pause(T0, "ben"), document=document)
    state, audit = run(state, HealthSample(T0, handoffs=3, conflicts=1), document=document)
    assert (state.phase, state.admitted_through) == (P.ROLLING_BACK, 0)
    assert state.reason == "gate tripped: conflicts 1 > 0"
    assert actions(audit) == ["gate_tripped", "rollback_started"]
    assert audit[1]["details"]["by"] == "gate"


def test_the_state_survives_a_round_trip_through_json_data() -> None:
    state, _ = run(started(), StageApplied(1, T0), Pause(T0 + timedelta(minutes=5), "ben", "lunch"))
    data = state.to_dict()
    assert data["phase"] == "paused"
    assert data["soak_left_seconds"] == 3300
    assert RolloutState.from_dict(data) == state
    soaking, _ = run(started(), StageApplied(1, T0))
    assert RolloutState.from_dict(soaking.to_dict()).soak_until == T0 + HOUR


@pytest.mark.parametrize(
    "data",
    [
        {"rollout": "r", "final_stage": 2, "phase": "soaking", "stage": 1},
        {"rollout": "r", "final_stage": 2, "phase": "applying", "stage": 0},
        {"rollout": "r", "final_stage": 2, "phase": "paused", "stage": 1},
        {"rollout": "r", "final_stage": 2, "phase": "completed", "stage": 1},
        {"rollout": "r", "final_stage": 2, "phase": "applying", "stage": 3},
        {"rollout": "r", "final_stage": 2, "phase": "applying", "stage": 1, "colour": 1},
    ],
)
def test_malformed_persisted_states_are_refused(data: dict) -> None:
    with pytest.raises(ValueError):
        RolloutState.from_dict(data)


def test_a_state_is_advanced_only_with_its_own_document_and_aware_times() -> None:
    state = started()
    other = parse_desired_state({"workloads": {"compliance": {"slider": "cloud"}}})
    with pytest.raises(DomainError, match="does not belong"):
        advance(state, Tick(T0), other)
    with pytest.raises(DomainError, match="timezone"):
        advance(state, Tick(datetime(2025, 3, 1)), DOC)


def test_status_lines_name_the_stage_and_the_reason() -> None:
    pending = new_rollout_state(DOC.name, DOC.final_stage)
    assert describe_state(pending, DOC) == "pending: not started"
    state = started()
    assert describe_state(state, DOC) == "applying wave 1 (PS100020)"
    state, _ = run(state, StageApplied(1, T0))
    assert describe_state(state, DOC) == "soaking wave 1 (PS100020) until 2025-03-01T09:00:00+00:00"
    state, _ = run(state, HealthSample(T0, handoffs=10, failed=1))
    assert describe_state(state, DOC) == (
        "paused at wave 1 (PS100020): gate tripped: failed handoffs 10% (1 of 10) > 5%"
    )
    state, _ = run(state, Rollback(T0, "ana", "tickets"))
    assert describe_state(state, DOC) == "rolling back at wave 1 (PS100020): tickets"
    aborted, _ = run(pending, Abort(T0, "ana", "typo"))
    assert describe_state(aborted, DOC) == "aborted: typo"
