"""The arbiter's journal: authority records, and the events of their handoffs.

A (device, workload) without a row holds its initial record (the site at
epoch 0, `workloads.handoff.initial_record`), so the journal grows with the
devices handed off, not with the fleet. The arbiter saves a record before it
sends the commands of that step; `unsettled()` is what a restart resends.

Each saved version is marked unreported until the tenant has it
(`mark_reported` compares the version, so a record that changed while its
report was in flight is reported again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bridge.state.schema import authority, authority_events
from bridge.state.scope import Scope, chunks, clean_text, from_db, insert_for, to_db
from workloads.catalog import Holder, Workload
from workloads.handoff import AuthorityRecord, PendingFence, Phase


@dataclass(frozen=True)
class JournalEntry:
    """A journaled record with what the journal keeps beside it."""

    record: AuthorityRecord
    conflict: str | None
    updated_at: datetime


@dataclass(frozen=True)
class AuthorityEvent:
    """One thing that happened to a record (`event`: begun, held, forced, stale, conflict...)."""

    smsid: str
    workload: Workload
    event: str
    epoch: int
    detail: dict[str, Any] | None = None


def _row(record: AuthorityRecord, conflict: str | None, now: datetime) -> dict[str, Any]:
    return {
        "smsid": record.device,
        "workload": record.workload.value,
        "holder": record.holder.value if record.holder else None,
        "epoch": record.epoch,
        "phase": record.phase.value,
        "target": record.target.value if record.target else None,
        "fence": record.fence.model_dump(mode="json") if record.fence else None,
        "conflict": clean_text(conflict, 255),
        "updated_at": to_db(now),
        "reported": False,
    }


def _entry(row: Any) -> JournalEntry:
    record = AuthorityRecord(
        device=row.smsid,
        workload=Workload(row.workload),
        holder=Holder(row.holder) if row.holder else None,
        epoch=row.epoch,
        phase=Phase(row.phase),
        target=Holder(row.target) if row.target else None,
        fence=PendingFence.model_validate(row.fence) if row.fence else None,
    )
    return JournalEntry(record, row.conflict, from_db(row.updated_at))


class AuthorityJournal:
    """Authority records that left their initial state."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def entries(self, smsids: Sequence[str]) -> dict[tuple[str, Workload], JournalEntry]:
        """The journaled records of these devices, by (smsid, workload)."""
        found: dict[tuple[str, Workload], JournalEntry] = {}
        with self._scope.read("reading authority records") as conn:
            for chunk in chunks(sorted(set(smsids))):
                for row in conn.execute(sa.select(authority).where(authority.c.smsid.in_(chunk))):
                    entry = _entry(row)
                    found[entry.record.key] = entry
        return found

    def journaled_smsids(self) -> list[str]:
        """The devices with at least one journaled record."""
        stmt = sa.select(authority.c.smsid).distinct().order_by(authority.c.smsid)
        with self._scope.read("listing journaled devices") as conn:
            return list(conn.execute(stmt).scalars())

    def unsettled(self) -> list[JournalEntry]:
        """Records with a handoff in flight or a fence pending: what a restart resends."""
        stmt = (
            sa.select(authority)
            .where(sa.or_(authority.c.phase != Phase.HELD.value, authority.c.fence.is_not(None)))
            .order_by(authority.c.smsid, authority.c.workload)
        )
        with self._scope.read("reading unsettled authority records") as conn:
            return [_entry(row) for row in conn.execute(stmt)]

    def save(
        self,
        records: Iterable[tuple[AuthorityRecord, str | None]],
        *,
        now: datetime,
    ) -> int:
        """Upsert (record, conflict) pairs, each marked unreported; how many were given."""
        rows = {(r.device, r.workload): _row(r, conflict, now) for r, conflict in records}
        if not rows:
            return 0
        stmt = insert_for(self._scope, authority)
        changed = [c.name for c in authority.c if c.name not in ("smsid", "workload")]
        stmt = stmt.on_conflict_do_update(
            index_elements=["smsid", "workload"], set_={c: stmt.excluded[c] for c in changed}
        )
        with self._scope.write("journaling authority records") as conn:
            conn.execute(stmt, list(rows.values()))
        return len(rows)

    def replace(self, old: JournalEntry | None, new: AuthorityRecord, *, now: datetime) -> bool:
        """Save `new` only if the journal still holds `old` (None: no row); whether it did.

        For a writer beside the running arbiter (an admin's force): a record
        the arbiter moved meanwhile is left alone.
        """
        row = _row(new, old.conflict if old else None, now)
        with self._scope.write("replacing an authority record") as conn:
            if old is None:
                stmt = insert_for(self._scope, authority).values(**row)
                return conn.execute(stmt.on_conflict_do_nothing()).rowcount == 1
            changed = {k: v for k, v in row.items() if k not in ("smsid", "workload")}
            done = conn.execute(
                authority.update()
                .where(
                    authority.c.smsid == old.record.device,
                    authority.c.workload == old.record.workload.value,
                    authority.c.epoch == old.record.epoch,
                    authority.c.phase == old.record.phase.value,
                    authority.c.updated_at == to_db(old.updated_at),
                )
                .values(**changed)
            )
            return done.rowcount == 1

    def set_conflicts(
        self, conflicts: dict[tuple[str, Workload], str | None], *, now: datetime
    ) -> int:
        """Set (or clear, with None) the conflict of journaled records; how many changed.

        A changed record is marked unreported, so the tenant sees the conflict.
        """
        changed = 0
        with self._scope.write("marking authority conflicts") as conn:
            for (smsid, workload), text in sorted(conflicts.items()):
                value = clean_text(text, 255)
                changed += conn.execute(
                    authority.update()
                    .where(
                        authority.c.smsid == smsid,
                        authority.c.workload == workload.value,
                        authority.c.conflict.is_distinct_from(value),
                    )
                    .values(conflict=value, reported=False, updated_at=to_db(now))
                ).rowcount
        return changed

    def with_conflicts(self) -> list[JournalEntry]:
        """Journaled records that carry a conflict."""
        stmt = sa.select(authority).where(authority.c.conflict.is_not(None))
        with self._scope.read("reading authority conflicts") as conn:
            return [_entry(row) for row in conn.execute(stmt)]

    def unreported(self, limit: int) -> list[JournalEntry]:
        """Up to `limit` records the tenant does not have in their current version."""
        stmt = (
            sa.select(authority)
            .where(authority.c.reported.is_(False))
            .order_by(authority.c.smsid, authority.c.workload)
            .limit(limit)
        )
        with self._scope.read("reading unreported authority records") as conn:
            return [_entry(row) for row in conn.execute(stmt)]

    def mark_reported(self, entries: Iterable[JournalEntry]) -> int:
        """Mark these versions reported; a record saved again since stays unreported."""
        marked = 0
        with self._scope.write("marking authority records reported") as conn:
            for e in entries:
                marked += conn.execute(
                    authority.update()
                    .where(
                        authority.c.smsid == e.record.device,
                        authority.c.workload == e.record.workload.value,
                        authority.c.epoch == e.record.epoch,
                        authority.c.phase == e.record.phase.value,
                        authority.c.updated_at == to_db(e.updated_at),
                    )
                    .values(reported=True)
                ).rowcount
        return marked

    def health(
        self, workloads: Sequence[Workload], *, since: datetime, stalled_before: datetime
    ) -> dict[str, int]:
        """Handoff health of these workloads, for a rollout's gates and its stage's end.

        `touched`: records changed since `since` (the handoffs the rollout
        started); `unsettled`: records of these workloads in flight or with a
        fence pending, whenever begun; `stalled`: of those, the ones unchanged
        since `stalled_before`; `failed`: touched records with a conflict that
        is not drift; `conflicts`: records with a drift conflict.
        """
        if not workloads:
            return dict.fromkeys(("touched", "unsettled", "stalled", "failed", "conflicts"), 0)
        c = authority.c
        mine = c.workload.in_([w.value for w in workloads])
        touched = c.updated_at >= to_db(since)
        in_flight = sa.or_(c.phase != Phase.HELD.value, c.fence.is_not(None))
        drift = c.conflict.like("drift:%")
        stmt = sa.select(
            sa.func.count().filter(touched),
            sa.func.count().filter(in_flight),
            sa.func.count().filter(in_flight, c.updated_at < to_db(stalled_before)),
            sa.func.count().filter(touched, c.conflict.is_not(None), sa.not_(drift)),
            sa.func.count().filter(drift),
        ).where(mine)
        with self._scope.read("measuring handoff health") as conn:
            row = conn.execute(stmt).one()
        keys = ("touched", "unsettled", "stalled", "failed", "conflicts")
        return dict(zip(keys, (int(v) for v in row), strict=True))

    def counts(self) -> dict[str, dict[str, int]]:
        """Journaled records per workload, by `held:<holder>` or phase, and conflicts."""
        stmt = sa.select(
            authority.c.workload,
            authority.c.phase,
            authority.c.holder,
            sa.func.count(),
            sa.func.count(authority.c.conflict),
        ).group_by(authority.c.workload, authority.c.phase, authority.c.holder)
        counts: dict[str, dict[str, int]] = {}
        with self._scope.read("counting authority records") as conn:
            for workload, phase, holder, n, conflicts in conn.execute(stmt):
                mine = counts.setdefault(workload, {})
                state = f"held:{holder}" if phase == Phase.HELD.value else phase
                mine[state] = mine.get(state, 0) + int(n)
                if conflicts:
                    mine["conflicts"] = mine.get("conflicts", 0) + int(conflicts)
        return counts


class AuthorityEvents:
    """The append-only log of what happened to authority records."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def append(self, events: Iterable[AuthorityEvent], *, now: datetime) -> int:
        """Append `events` at `now`; how many."""
        rows = [
            {
                "at": to_db(now),
                "smsid": e.smsid,
                "workload": e.workload.value,
                "event": e.event,
                "epoch": e.epoch,
                "detail": e.detail,
            }
            for e in events
        ]
        if rows:
            with self._scope.write("logging authority events") as conn:
                conn.execute(authority_events.insert(), rows)
        return len(rows)

    def newest(
        self, limit: int = 100, *, smsid: str | None = None
    ) -> list[tuple[datetime, AuthorityEvent]]:
        """The newest events (of one device, or all), newest first."""
        stmt = sa.select(authority_events).order_by(authority_events.c.event_id.desc())
        if smsid is not None:
            stmt = stmt.where(authority_events.c.smsid == smsid)
        with self._scope.read("reading authority events") as conn:
            rows = conn.execute(stmt.limit(limit)).all()
        return [
            (
                from_db(r.at),
                AuthorityEvent(r.smsid, Workload(r.workload), r.event, r.epoch, r.detail),
            )
            for r in rows
        ]
