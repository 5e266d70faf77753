"""Device actions the connector claimed, and how far each run got (the action relay's journal).

A run moves `claimed` -> `started` -> `finished`, never back. `started` is
committed before the command is sent to the device, so after a crash a
`started` run may have run: the relay runs it again only when that is
harmless (a client schedule), and otherwise reports it interrupted. A
`finished` run keeps its result until the tenant acknowledged it
(`reported_at`), and afterwards so that an action offered again is
recognised and not run twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bridge.state.schema import action_runs as runs
from bridge.state.scope import Scope, chunks, from_db, insert_for, to_db


@dataclass(frozen=True)
class NewActionRun:
    """An action just claimed: what the journal records before anything else happens."""

    action_id: str
    kind: str
    smsid: str
    host: str
    payload: Mapping[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class ActionRun:
    """One action as the journal holds it."""

    action_id: str
    state: str
    kind: str
    smsid: str
    host: str
    payload: dict[str, Any]
    expires_at: datetime
    claimed_at: datetime
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    reported_at: datetime | None


def _run(row: sa.Row) -> ActionRun:
    return ActionRun(
        action_id=row.action_id,
        state=row.state,
        kind=row.kind,
        smsid=row.smsid,
        host=row.host,
        payload=dict(row.payload),
        expires_at=from_db(row.expires_at),
        claimed_at=from_db(row.claimed_at),
        attempts=row.attempts,
        started_at=from_db(row.started_at),
        finished_at=from_db(row.finished_at),
        result=dict(row.result) if row.result is not None else None,
        reported_at=from_db(row.reported_at),
    )


class ActionRuns:
    """Record claims, starts, results and acknowledgements of device actions."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def record_claims(
        self, claims: Sequence[NewActionRun], *, now: datetime
    ) -> dict[str, ActionRun]:
        """Record new claims (one already known keeps its row); every claim's row, by id."""
        if not claims:
            return {}
        rows = [
            {
                "action_id": c.action_id,
                "state": "claimed",
                "claimed_at": to_db(now),
                "kind": c.kind,
                "smsid": c.smsid,
                "host": c.host[:255],
                "payload": dict(c.payload),
                "expires_at": to_db(c.expires_at),
                "attempts": 0,
            }
            for c in claims
        ]
        ids = [c.action_id for c in claims]
        with self._scope.write("recording claimed actions") as conn:
            conn.execute(
                insert_for(self._scope, runs).on_conflict_do_nothing(index_elements=["action_id"]),
                rows,
            )
            found = {}
            for part in chunks(ids):
                for row in conn.execute(sa.select(runs).where(runs.c.action_id.in_(part))):
                    found[row.action_id] = _run(row)
        return found

    def mark_started(self, action_id: str, *, now: datetime) -> int:
        """Record an attempt about to send the command (commit before sending); the attempt number.

        0 when the run is finished already: then nothing may be sent.
        """
        with self._scope.write("recording an action start") as conn:
            updated = conn.execute(
                runs.update()
                .where(runs.c.action_id == action_id, runs.c.state != "finished")
                .values(
                    state="started",
                    started_at=sa.func.coalesce(runs.c.started_at, to_db(now)),
                    attempts=runs.c.attempts + 1,
                )
                .returning(runs.c.attempts)
            ).first()
        return int(updated.attempts) if updated is not None else 0

    def finish(
        self,
        action_id: str,
        result: Mapping[str, Any] | None,
        *,
        now: datetime,
        reported: bool = False,
    ) -> bool:
        """Record how a run ended (`reported`: nothing to tell the tenant); False if it had ended."""
        with self._scope.write("recording an action result") as conn:
            return bool(
                conn.execute(
                    runs.update()
                    .where(runs.c.action_id == action_id, runs.c.state != "finished")
                    .values(
                        state="finished",
                        finished_at=to_db(now),
                        result=dict(result) if result is not None else None,
                        reported_at=to_db(now) if reported else None,
                    )
                ).rowcount
            )

    def mark_reported(self, action_ids: Iterable[str], *, now: datetime) -> int:
        """Record that the tenant acknowledged these results; how many were waiting."""
        done = 0
        with self._scope.write("recording reported action results") as conn:
            for part in chunks(list(action_ids)):
                done += conn.execute(
                    runs.update()
                    .where(
                        runs.c.action_id.in_(part),
                        runs.c.state == "finished",
                        runs.c.reported_at.is_(None),
                    )
                    .values(reported_at=to_db(now))
                ).rowcount
        return done

    def get(self, action_id: str) -> ActionRun | None:
        """One run, or None when the action was never claimed here."""
        with self._scope.read("reading an action run") as conn:
            row = conn.execute(sa.select(runs).where(runs.c.action_id == action_id)).first()
        return _run(row) if row is not None else None

    def unfinished(self) -> list[ActionRun]:
        """Runs claimed or started without a result (after a crash: what to resume), oldest first."""
        stmt = (
            sa.select(runs)
            .where(runs.c.state.in_(("claimed", "started")))
            .order_by(runs.c.claimed_at, runs.c.action_id)
        )
        with self._scope.read("reading unfinished action runs") as conn:
            return [_run(r) for r in conn.execute(stmt)]

    def unreported(self, limit: int = 100) -> list[ActionRun]:
        """Finished runs whose result the tenant has not acknowledged, oldest first."""
        stmt = (
            sa.select(runs)
            .where(runs.c.state == "finished", runs.c.reported_at.is_(None))
            .order_by(runs.c.finished_at, runs.c.action_id)
            .limit(limit)
        )
        with self._scope.read("reading unreported action results") as conn:
            return [_run(r) for r in conn.execute(stmt)]

    def counts(self) -> dict[str, int]:
        """Runs by state, and finished ones not yet acknowledged (`unreported`), for status."""
        unreported = sa.and_(runs.c.state == "finished", runs.c.reported_at.is_(None))
        stmt = sa.select(
            runs.c.state, sa.func.count(), sa.func.sum(sa.case((unreported, 1), else_=0))
        ).group_by(runs.c.state)
        counts = {"claimed": 0, "started": 0, "finished": 0, "unreported": 0}
        with self._scope.read("counting action runs") as conn:
            for state, count, waiting in conn.execute(stmt):
                counts[state] = int(count)
                counts["unreported"] += int(waiting or 0)
        return counts

    def prune(self, *, finished_before: datetime) -> int:
        """Forget acknowledged runs that finished before a time; how many."""
        with self._scope.write("pruning action runs") as conn:
            return conn.execute(
                runs.delete().where(
                    runs.c.state == "finished",
                    runs.c.reported_at.is_not(None),
                    runs.c.finished_at < to_db(finished_before),
                )
            ).rowcount
