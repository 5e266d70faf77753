"""Sync runs: the history of cycles, and the latest one for `cobridge status`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from bridge.state.schema import sync_runs
from bridge.state.scope import Scope, from_db, to_db

Kind = Literal["full", "delta"]
Outcome = Literal["ok", "failed", "partial"]
INTERRUPTED = "interrupted: the connector stopped before the cycle finished"


@dataclass(frozen=True)
class SyncRun:
    """One cycle: unfinished while `outcome` is None."""

    run_id: str
    kind: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    counts: dict[str, int]
    error: str | None


def _run(row: sa.Row) -> SyncRun:
    return SyncRun(
        run_id=row.run_id,
        kind=row.kind,
        started_at=from_db(row.started_at),
        finished_at=from_db(row.finished_at),
        outcome=row.outcome,
        counts=dict(row.counts or {}),
        error=row.error,
    )


class SyncRuns:
    """Start, finish and look up cycles."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def start(self, run_id: str, kind: Kind, *, now: datetime) -> None:
        """Record that a cycle started; a cycle left unfinished by a crash is closed as failed."""
        with self._scope.write("starting a sync run") as conn:
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.outcome.is_(None))
                .values(outcome="failed", finished_at=to_db(now), error=INTERRUPTED)
            )
            conn.execute(sync_runs.insert().values(run_id=run_id, kind=kind, started_at=to_db(now)))

    def finish(
        self,
        run_id: str,
        outcome: Outcome,
        *,
        now: datetime,
        counts: Mapping[str, int] | None = None,
        error: str | None = None,
    ) -> bool:
        """Record how a cycle ended; False when it was not running (unknown, or closed)."""
        with self._scope.write("finishing a sync run") as conn:
            return bool(
                conn.execute(
                    sync_runs.update()
                    .where(sync_runs.c.run_id == run_id, sync_runs.c.outcome.is_(None))
                    .values(
                        outcome=outcome,
                        finished_at=to_db(now),
                        counts=dict(counts or {}),
                        error=error,
                    )
                ).rowcount
            )

    def latest(self, kind: Kind | None = None) -> SyncRun | None:
        """The most recently started cycle (of one kind, or any)."""
        runs = self.recent(1, kind=kind)
        return runs[0] if runs else None

    def recent(self, limit: int = 20, *, kind: Kind | None = None) -> list[SyncRun]:
        """The last `limit` cycles, newest first."""
        stmt = sa.select(sync_runs).order_by(
            sync_runs.c.started_at.desc(), sync_runs.c.run_id.desc()
        )
        if kind is not None:
            stmt = stmt.where(sync_runs.c.kind == kind)
        with self._scope.read("reading sync runs") as conn:
            return [_run(r) for r in conn.execute(stmt.limit(limit))]
