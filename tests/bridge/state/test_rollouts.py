"""The connector's rollout store on SQLite and PostgreSQL: one active rollout, its saved state.

A second rollout is refused while one has not ended, also when two
processes start one at the same moment; ending a rollout frees the slot and
keeps its record; a refused start inside a caller's transaction leaves that
transaction usable.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.state import ConnectorState
from bridge.state.rollouts import RolloutActive
from tests.support.pg import throwaway_pg_database

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'connector-state.db'}"
    else:
        with throwaway_pg_database("cobridge_rollouts") as url:
            yield url.render_as_string(hide_password=False)


@pytest.fixture
def state(db_url: str, tmp_path: Path) -> Iterator[ConnectorState]:
    """A migrated, empty connector state."""
    with ConnectorState.open(db_url, data_dir=tmp_path) as opened:
        yield opened


def rollout(name: str, at: datetime = NOW) -> dict[str, Any]:
    """The arguments of a new rollout named `name`."""
    return {
        "rollout_id": str(uuid.uuid4()),
        "name": name,
        "document": {"version": 1, "workloads": {"compliancePolicy": {"slider": "cloud"}}},
        "plan_hash": "a" * 64,
        "prior_settings": {"enabled": True},
        "state": {"phase": "pending", "stage": 0},
        "phase": "pending",
        "created_by": "ops",
        "now": at,
    }


def test_one_active_rollout_then_the_next(state: ConnectorState) -> None:
    assert state.rollouts.active() is None
    assert state.rollouts.latest() is None
    first = state.rollouts.create(**rollout("wave-1"))
    assert first.active
    assert state.rollouts.active() == first
    with pytest.raises(RolloutActive, match=r"'wave-1'.*is pending") as refused:
        state.rollouts.create(**rollout("wave-2"))
    assert "abort" in (refused.value.hint or "")

    later = NOW + timedelta(hours=1)
    state.rollouts.save_state(
        first.rollout_id, {"phase": "applying", "stage": 1}, "applying", ended=False, now=later
    )
    running = state.rollouts.get(first.rollout_id)
    assert running is not None
    assert (running.phase, running.state["stage"], running.active) == ("applying", 1, True)
    assert running.updated_at == later

    state.rollouts.save_state(
        first.rollout_id, {"phase": "completed", "stage": 2}, "completed", ended=True, now=later
    )
    assert state.rollouts.active() is None
    latest = state.rollouts.latest()
    assert latest is not None
    assert (latest.rollout_id, latest.active) == (first.rollout_id, False)
    second = state.rollouts.create(**rollout("wave-2", later + timedelta(minutes=1)))
    assert [r.name for r in state.rollouts.recent()] == ["wave-2", "wave-1"]
    assert state.rollouts.latest() == second


def test_a_refusal_inside_a_transaction_leaves_it_usable(state: ConnectorState) -> None:
    state.rollouts.create(**rollout("held"))
    with state.transaction() as tx:
        with pytest.raises(RolloutActive):
            tx.rollouts.create(**rollout("second"))
        assert tx.rollouts.active() is not None  # the transaction still works


def test_two_processes_starting_at_once_get_one_rollout(db_url: str, tmp_path: Path) -> None:
    stores = [ConnectorState.open(db_url, data_dir=tmp_path) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def start(store: ConnectorState, n: int) -> None:
        barrier.wait()
        try:
            store.rollouts.create(**rollout(f"r{n}"))
            outcomes.append("started")
        except RolloutActive:
            outcomes.append("refused")

    threads = [threading.Thread(target=start, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert sorted(outcomes) == ["refused", "refused", "refused", "started"]
        assert len(stores[0].rollouts.recent()) == 1
    finally:
        for store in stores:
            store.close()


def test_saving_an_unknown_rollout_is_an_error(state: ConnectorState) -> None:
    with pytest.raises(Exception, match="no rollout"):
        state.rollouts.save_state("nope", {}, "pending", ended=False, now=NOW)
