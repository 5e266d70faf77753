"""Held deletes: the delete guard's memory (DESIGN.md section 6).

When a cycle would delete more than the guard allows, every delete of that
cycle is held here, as a group named by the cycle id, until an admin
releases it (who and when are recorded) or the devices come back (the hold
is discarded). A release only approves: the next cycle over a complete read
sends the tombstones of released devices still gone (`applied`) and
discards those that came back, so a delete is never sent without a read
showing the device gone. Rows are never deleted: they are the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bridge.state.schema import held_deletes
from bridge.state.scope import Scope, chunks, clean_text, from_db, to_db


@dataclass(frozen=True)
class HeldDelete:
    """One device whose delete is (or was) held, and how the hold ended."""

    cycle_id: str
    smsid: str
    name: str | None
    held_at: datetime
    status: str  # held, released, applied or discarded
    resolved_at: datetime | None
    resolved_by: str | None


def _entry(row: sa.Row) -> HeldDelete:
    return HeldDelete(
        cycle_id=row.cycle_id,
        smsid=row.smsid,
        name=row.name,
        held_at=from_db(row.held_at),
        status=row.status,
        resolved_at=from_db(row.resolved_at),
        resolved_by=row.resolved_by,
    )


class HeldDeletes:
    """Deletes held by the guard, and their release."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def hold(self, cycle_id: str, items: Iterable[tuple[str, str | None]], *, now: datetime) -> int:
        """Hold the deletes of (smsid, name) `items` under `cycle_id`; how many are new.

        A device already held by an earlier cycle stays in that cycle's group:
        an admin may be reviewing that group right now.
        """
        wanted = dict(items)
        with self._scope.write("holding deletes") as conn:
            already: set[str] = set()
            for chunk in chunks(list(wanted)):
                already.update(
                    conn.execute(
                        sa.select(held_deletes.c.smsid).where(
                            held_deletes.c.status == "held", held_deletes.c.smsid.in_(chunk)
                        )
                    ).scalars()
                )
            rows = [
                {
                    "cycle_id": cycle_id,
                    "smsid": smsid,
                    "name": clean_text(name, 255),
                    "held_at": to_db(now),
                    "status": "held",
                }
                for smsid, name in wanted.items()
                if smsid not in already
            ]
            if rows:
                conn.execute(held_deletes.insert(), rows)
        return len(rows)

    def held(self, cycle_id: str | None = None) -> list[HeldDelete]:
        """Deletes still held (of one cycle, or all), oldest hold first."""
        stmt = (
            sa.select(held_deletes)
            .where(held_deletes.c.status == "held")
            .order_by(held_deletes.c.held_at, held_deletes.c.cycle_id, held_deletes.c.smsid)
        )
        if cycle_id is not None:
            stmt = stmt.where(held_deletes.c.cycle_id == cycle_id)
        with self._scope.read("listing held deletes") as conn:
            return [_entry(r) for r in conn.execute(stmt)]

    def release(self, by: str, *, now: datetime, cycle_id: str | None = None) -> list[HeldDelete]:
        """Release held deletes (of one cycle, or all), recording who and when; the released.

        The next cycle over a complete read sends them (`settle`).
        """
        where = [held_deletes.c.status == "held"]
        if cycle_id is not None:
            where.append(held_deletes.c.cycle_id == cycle_id)
        with self._scope.write("releasing held deletes") as conn:
            rows = conn.execute(
                held_deletes.update()
                .where(*where)
                .values(status="released", resolved_at=to_db(now), resolved_by=by[:255])
                .returning(*held_deletes.c)
            ).all()
        return sorted((_entry(r) for r in rows), key=lambda e: (e.cycle_id, e.smsid))

    def discard(self, smsids: Iterable[str], *, now: datetime) -> int:
        """End the holds of devices that came back to the site; how many ended."""
        ended = 0
        with self._scope.write("discarding held deletes") as conn:
            for chunk in chunks(list(dict.fromkeys(smsids))):
                ended += conn.execute(
                    held_deletes.update()
                    .where(held_deletes.c.status == "held", held_deletes.c.smsid.in_(chunk))
                    .values(status="discarded", resolved_at=to_db(now), resolved_by="sync")
                ).rowcount
        return ended

    def released(self) -> list[HeldDelete]:
        """Deletes an admin released whose tombstones the sync has not sent yet."""
        stmt = (
            sa.select(held_deletes)
            .where(held_deletes.c.status == "released")
            .order_by(held_deletes.c.cycle_id, held_deletes.c.smsid)
        )
        with self._scope.read("listing released deletes") as conn:
            return [_entry(r) for r in conn.execute(stmt)]

    def settle(self, applied: Iterable[str], returned: Iterable[str]) -> None:
        """Close released deletes: `applied` were sent, `returned` came back to the site.

        Call it in the transaction that persists the tombstones (`Outbox.put`),
        so a crash cannot mark a delete sent that never was. Who released it,
        and when, stay recorded.
        """
        with self._scope.write("settling released deletes") as conn:
            for status, smsids in (("applied", applied), ("discarded", returned)):
                for chunk in chunks(list(dict.fromkeys(smsids))):
                    conn.execute(
                        held_deletes.update()
                        .where(held_deletes.c.status == "released", held_deletes.c.smsid.in_(chunk))
                        .values(status=status)
                    )
