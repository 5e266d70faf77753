"""A hierarchy's authority log: the cloud gate's applied commands and its deliveries, in order.

The invariant checker (`workloads.invariant`) replays events in time order and
refuses an older one. So every writer of a hierarchy's gate or log first takes
`lock_log`, an upsert of the hierarchy's `authority_sequences` row that holds
the row lock (PostgreSQL) or the store's write lock (SQLite: the upsert is the
transaction's first write) until commit. Consequences, for any number of
workers:

- sequence numbers are handed out and committed in one order, without gaps
  a reader could later see filled: a page read after `seq` N never misses an
  entry at or below N committed afterwards;
- times never go back along the sequence (`at` is at least the last entry's,
  whatever the workers' clocks say);
- a check-in and a revoke of the same hierarchy are serialised: a delivery
  is logged either before the revoke (under the grant it revokes) or after
  it (and then not made at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.authority_views import AuthorityLogEntry, AuthorityLogPage
from cloud.store.device_view import aware_utc
from cloud.store.dialect import insert_for
from cloud.store.schema import authority_deliveries, authority_gate_log, authority_sequences

_INSERT_CHUNK = 500


@dataclass
class LogLock:
    """The hierarchy's log, locked for this transaction: the next entries go here."""

    tenant_id: str
    hierarchy_id: str
    seq: int
    at: datetime
    gate_rows: list[dict[str, Any]] = field(default_factory=list)
    delivery_rows: list[dict[str, Any]] = field(default_factory=list)

    def _row(self, smsid: str, workload: str, epoch: int) -> dict[str, Any]:
        self.seq += 1
        return {
            "tenant_id": self.tenant_id,
            "hierarchy_id": self.hierarchy_id,
            "seq": self.seq,
            "smsid": smsid,
            "workload": workload,
            "epoch": epoch,
            "at": self.at,
        }

    def applied(self, op: str, smsid: str, workload: str, epoch: int) -> None:
        """Log a grant or revoke the gate applied."""
        self.gate_rows.append({**self._row(smsid, workload, epoch), "op": op})

    def delivered(self, smsid: str, workload: str, epoch: int) -> None:
        """Log a workload delivered to a device under the grant of `epoch`."""
        self.delivery_rows.append(self._row(smsid, workload, epoch))


async def lock_log(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, clock: Callable[[], datetime]
) -> LogLock:
    """Lock the hierarchy's log until the transaction ends; where it stands (see the module).

    The clock is read once the lock is held, so the time is when the entries
    are made, not when the request began waiting.
    """
    seqs = authority_sequences
    stmt = insert_for(conn, seqs).values(
        tenant_id=tenant_id, hierarchy_id=hierarchy_id, last_seq=0, last_at=datetime.min
    )
    # Updating the row to itself takes its lock (and, on SQLite, the write lock).
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "hierarchy_id"], set_={"last_seq": seqs.c.last_seq}
    ).returning(seqs.c.last_seq, seqs.c.last_at)
    last_seq, last_at = (await conn.execute(stmt)).one()
    return LogLock(tenant_id, hierarchy_id, int(last_seq), max(clock(), last_at))


async def write_log(conn: AsyncConnection, lock: LogLock) -> None:
    """Append the entries gathered under `lock` and advance the hierarchy's sequence."""
    for table, rows in (
        (authority_gate_log, lock.gate_rows),
        (authority_deliveries, lock.delivery_rows),
    ):
        for start in range(0, len(rows), _INSERT_CHUNK):
            await conn.execute(table.insert(), rows[start : start + _INSERT_CHUNK])
    await conn.execute(
        authority_sequences.update()
        .where(
            authority_sequences.c.tenant_id == lock.tenant_id,
            authority_sequences.c.hierarchy_id == lock.hierarchy_id,
        )
        .values(last_seq=lock.seq, last_at=lock.at)
    )
    lock.gate_rows, lock.delivery_rows = [], []


async def read_log(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    *,
    deliveries: bool,
    since: int,
    top: int,
) -> AuthorityLogPage:
    """Entries after `since` by sequence: the deliveries, or the gate's applied commands."""
    table = authority_deliveries if deliveries else authority_gate_log
    kind = sa.literal("delivery") if deliveries else table.c.op
    stmt = (
        sa.select(
            table.c.seq,
            kind.label("kind"),
            table.c.smsid,
            table.c.workload,
            table.c.epoch,
            table.c.at,
        )
        .where(
            table.c.tenant_id == tenant_id,
            table.c.hierarchy_id == hierarchy_id,
            table.c.seq > since,
        )
        .order_by(table.c.seq)
        .limit(top + 1)
    )
    rows = (await conn.execute(stmt)).mappings().all()
    entries = [
        AuthorityLogEntry(
            seq=r["seq"],
            kind=r["kind"],
            smsid=r["smsid"],
            workload=r["workload"],
            epoch=r["epoch"],
            at=aware_utc(r["at"]),
        )
        for r in rows[:top]
    ]
    return AuthorityLogPage(
        value=entries, since=entries[-1].seq if entries else since, more=len(rows) > top
    )
