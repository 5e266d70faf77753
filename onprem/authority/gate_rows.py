"""The embedded site's gate in SQL: fenced commands, gated delivery, published flags.

Every function runs on a connection inside the caller's transaction.

Concurrency. Two connectors or threads commanding the same record must not
both win. Before deciding anything, a transaction creates the rows of the
records it touches at their initial value (epoch 0, the site holds), leaving
existing rows alone, and then reads them locked:

- on PostgreSQL the rows then exist, so `SELECT ... FOR UPDATE` (for
  commands) or `FOR SHARE` (for a delivery, which must not interleave with a
  revoke) locks every one of them; keys are taken in sorted order so that
  two transactions never wait on each other in a cycle;
- on SQLite that first insert is a write, which takes the database's write
  lock before anything is read: transactions touching the gate run one at a
  time, each reading what the previous one committed.

Creating a row at its initial value changes nothing a reader can tell: a
missing row means exactly that record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from onprem.authority.sql import chunks, from_db, insert_missing, to_db, upsert
from onprem.site_authority import SITE, GateEntry
from onprem.site_schema import cobridge_published_flags as published_table
from onprem.site_schema import cobridge_site_authority_log as log_table
from onprem.site_schema import cobridge_site_gate as gate_table
from workloads import flags as co_flags
from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.gate import GateRecord, Verdict, decide, initial_gate_record
from workloads.messages import Command, Key, Reply

DELIVERY = "delivery"  # the log's kind for a delivery; grants and revokes use their op
_KNOWN = frozenset(w.value for w in ALL_WORKLOADS)


def _locked(
    conn: sa.Connection, keys: Iterable[Key], now: datetime, *, share: bool
) -> dict[Key, GateRecord]:
    wanted = sorted(set(keys))
    initial = initial_gate_record(SITE)
    stamp = to_db(now)
    rows = [
        {
            "smsid": s,
            "workload": w.value,
            "epoch": initial.epoch,
            "holds": initial.holds,
            "updated_at": stamp,
        }
        for s, w in wanted
    ]
    insert_missing(conn, gate_table, rows)
    records: dict[Key, GateRecord] = {}
    smsids = sorted({smsid for smsid, _ in wanted})
    for chunk in chunks(smsids):
        statement = (
            sa.select(
                gate_table.c.smsid, gate_table.c.workload, gate_table.c.epoch, gate_table.c.holds
            )
            .where(gate_table.c.smsid.in_(chunk))
            .order_by(gate_table.c.smsid, gate_table.c.workload)
            .with_for_update(read=share)
        )
        for row in conn.execute(statement):
            if row.workload in _KNOWN:
                records[(row.smsid, Workload(row.workload))] = GateRecord(
                    int(row.epoch), bool(row.holds)
                )
    return {key: records[key] for key in wanted}


def _stamp(conn: sa.Connection, now: datetime) -> datetime:
    """The time to log under the locks just taken: `now`, or the log's latest if later.

    Callers read their clock before waiting for the locks; a command that waited
    behind a delivery (or the other way round) must not be logged before it, or
    a replay of the log would see them in the wrong order.
    """
    stamp = to_db(now)
    latest = conn.execute(sa.select(sa.func.max(log_table.c.at))).scalar_one_or_none()
    return max(stamp, latest) if latest is not None else stamp


def _log_rows(
    kind: str, smsid: str, workload: Workload, epoch: int, at: datetime
) -> dict[str, Any]:
    return {"at": at, "kind": kind, "smsid": smsid, "workload": workload.value, "epoch": epoch}


def apply_commands(conn: sa.Connection, commands: Sequence[Command], now: datetime) -> list[Reply]:
    """Decide each command in order against the locked records; store and log what was applied."""
    keys = [(command.device, Workload(command.workload)) for command in commands]
    records = _locked(conn, keys, now, share=False)
    replies: list[Reply] = []
    applied: list[dict[str, Any]] = []
    changed: set[Key] = set()
    stamp = _stamp(conn, now)
    for key, command in zip(keys, commands, strict=True):
        decision = decide(SITE, records[key], command)
        replies.append(decision.reply)
        if decision.verdict is Verdict.APPLIED:
            records[key] = decision.record
            changed.add(key)
            applied.append(_log_rows(command.op.value, *key, command.epoch, stamp))
    if changed:
        upsert(
            conn,
            gate_table,
            [
                {
                    "smsid": s,
                    "workload": w.value,
                    "epoch": records[(s, w)].epoch,
                    "holds": records[(s, w)].holds,
                    "updated_at": stamp,
                }
                for s, w in sorted(changed)
            ],
            key=["smsid", "workload"],
        )
        conn.execute(log_table.insert(), applied)
        _publish(conn, sorted({smsid for smsid, _ in changed}), stamp)
    return replies


def _publish(conn: sa.Connection, smsids: Sequence[str], stamp: datetime) -> None:
    # The site's CoManagementFlags: 1 plus the bits of the workloads the site does not hold.
    held = grants(conn, smsids)
    rows = [
        {
            "smsid": smsid,
            "flags": co_flags.encode(w for w in ALL_WORKLOADS if not held[(smsid, w)].holds),
            "updated_at": stamp,
        }
        for smsid in smsids
    ]
    upsert(conn, published_table, rows, key=["smsid"])


def deliver(conn: sa.Connection, smsid: str, now: datetime) -> dict[Workload, int]:
    """The workloads the site holds for `smsid`, with their epochs; each delivery logged."""
    records = _locked(conn, ((smsid, w) for w in ALL_WORKLOADS), now, share=True)
    held = {w: records[(smsid, w)].epoch for w in ALL_WORKLOADS if records[(smsid, w)].holds}
    stamp = _stamp(conn, now)
    if held:
        conn.execute(
            log_table.insert(), [_log_rows(DELIVERY, smsid, w, e, stamp) for w, e in held.items()]
        )
    return held


def grants(conn: sa.Connection, smsids: Sequence[str]) -> dict[Key, GateRecord]:
    """Every workload's record for each of `smsids`, the initial one where none is stored."""
    initial = initial_gate_record(SITE)
    unique = sorted(set(smsids))
    found = {(s, w): initial for s in unique for w in ALL_WORKLOADS}
    for entry in stored_entries(conn, unique):
        found[entry.key] = entry.record
    return found


def stored_entries(
    conn: sa.Connection, smsids: Sequence[str] | None, *, commanded_only: bool = False
) -> list[GateEntry]:
    """The stored gate rows of `smsids` (all devices when None), optionally only at epoch > 0."""
    statement = sa.select(gate_table).order_by(gate_table.c.smsid, gate_table.c.workload)
    if commanded_only:
        statement = statement.where(gate_table.c.epoch > 0)
    batches = [None] if smsids is None else list(chunks(sorted(set(smsids))))
    entries: list[GateEntry] = []
    for batch in batches:
        where = statement if batch is None else statement.where(gate_table.c.smsid.in_(batch))
        entries.extend(
            GateEntry(
                smsid=row.smsid,
                workload=Workload(row.workload),
                record=GateRecord(int(row.epoch), bool(row.holds)),
                updated_at=from_db(row.updated_at),
            )
            for row in conn.execute(where)
            if row.workload in _KNOWN
        )
    return entries


def published_flags(conn: sa.Connection, smsids: Sequence[str]) -> dict[str, int]:
    """The published flags of those of `smsids` the gate has ever changed."""
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(smsids))):
        rows = conn.execute(
            sa.select(published_table.c.smsid, published_table.c.flags).where(
                published_table.c.smsid.in_(chunk)
            )
        )
        found.update({row.smsid: int(row.flags) for row in rows})
    return found
