"""Rollouts as the connector runs them: the document, the reviewed plan's hash, the state.

At most one rollout is active (not ended) at a time: `active_slot` is 1 for
it and NULL for every other, under a unique constraint, so two `apply`s
racing from two processes cannot both start one. The rollout's state is the
pure machine's (`workloads.rollout.RolloutState.to_dict()`), saved in the
transaction that also appends its audit entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from bridge.state.errors import StateError
from bridge.state.schema import rollouts
from bridge.state.scope import Scope, from_db, to_db

ACTIVE = 1


class RolloutActive(StateError):
    """Another rollout has not ended: one rollout per hierarchy at a time."""

    code = "rollout_in_progress"


@dataclass(frozen=True)
class StoredRollout:
    """One rollout as stored."""

    rollout_id: str
    name: str
    document: dict[str, Any]
    plan_hash: str
    prior_settings: dict[str, Any]
    state: dict[str, Any]
    phase: str
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


def _stored(row: sa.Row[Any]) -> StoredRollout:
    values = row._asdict()
    return StoredRollout(
        rollout_id=values["rollout_id"],
        name=values["name"],
        document=dict(values["document"]),
        plan_hash=values["plan_hash"],
        prior_settings=dict(values["prior_settings"]),
        state=dict(values["state"]),
        phase=values["phase"],
        active=values["active_slot"] == ACTIVE,
        created_by=values["created_by"],
        created_at=from_db(values["created_at"]),
        updated_at=from_db(values["updated_at"]),
    )


def _refusal(active: StoredRollout) -> RolloutActive:
    return RolloutActive(
        f"rollout {active.name!r} ({active.rollout_id}) is {active.phase}: "
        "only one rollout runs at a time",
        hint="wait for it to complete, or end it with `cobridge workloads abort` or "
        "`cobridge workloads rollback`",
    )


class Rollouts:
    """Create the one active rollout, save its state, read it and the recent ones."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def create(
        self,
        *,
        rollout_id: str,
        name: str,
        document: dict[str, Any],
        plan_hash: str,
        prior_settings: dict[str, Any],
        state: dict[str, Any],
        phase: str,
        created_by: str,
        now: datetime,
    ) -> StoredRollout:
        """Store a new active rollout; `RolloutActive` if another has not ended."""
        with self._scope.write("starting a rollout") as conn:
            held = conn.execute(sa.select(rollouts).where(rollouts.c.active_slot == ACTIVE)).first()
            if held is not None:
                raise _refusal(_stored(held))
            values = {
                "rollout_id": rollout_id,
                "name": name,
                "document": document,
                "plan_hash": plan_hash,
                "prior_settings": prior_settings,
                "state": state,
                "phase": phase,
                "active_slot": ACTIVE,
                "created_by": created_by,
                "created_at": to_db(now),
                "updated_at": to_db(now),
            }
            try:
                # A savepoint: a concurrent creator's win must not spoil a caller's transaction.
                with conn.begin_nested():
                    conn.execute(rollouts.insert().values(values))
            except sa_exc.IntegrityError:
                winner = conn.execute(
                    sa.select(rollouts).where(rollouts.c.active_slot == ACTIVE)
                ).first()
                if winner is None:
                    raise
                raise _refusal(_stored(winner)) from None
            row = conn.execute(sa.select(rollouts).where(rollouts.c.rollout_id == rollout_id)).one()
        return _stored(row)

    def active(self) -> StoredRollout | None:
        """The rollout that has not ended, or None."""
        with self._scope.read("reading the active rollout") as conn:
            row = conn.execute(sa.select(rollouts).where(rollouts.c.active_slot == ACTIVE)).first()
        return None if row is None else _stored(row)

    def get(self, rollout_id: str) -> StoredRollout | None:
        """One rollout by id, or None."""
        with self._scope.read("reading a rollout") as conn:
            row = conn.execute(
                sa.select(rollouts).where(rollouts.c.rollout_id == rollout_id)
            ).first()
        return None if row is None else _stored(row)

    def latest(self) -> StoredRollout | None:
        """The active rollout, else the one created last, else None."""
        found = self.active()
        if found is not None:
            return found
        recent = self.recent(1)
        return recent[0] if recent else None

    def recent(self, limit: int = 10) -> list[StoredRollout]:
        """The newest rollouts first."""
        stmt = sa.select(rollouts).order_by(rollouts.c.created_at.desc()).limit(limit)
        with self._scope.read("listing rollouts") as conn:
            return [_stored(r) for r in conn.execute(stmt)]

    def save_state(
        self, rollout_id: str, state: dict[str, Any], phase: str, *, ended: bool, now: datetime
    ) -> None:
        """Store the rollout's new state; an ended rollout frees the active slot."""
        values: dict[str, Any] = {"state": state, "phase": phase, "updated_at": to_db(now)}
        if ended:
            values["active_slot"] = None
        with self._scope.write("saving a rollout's state") as conn:
            done = conn.execute(
                rollouts.update().where(rollouts.c.rollout_id == rollout_id).values(values)
            )
        if done.rowcount != 1:
            raise StateError(f"no rollout {rollout_id} to save")
