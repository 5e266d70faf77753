"""The cloud gate and the arbiter's reported records, per (device, workload) of a hierarchy.

The gate applies grants and revokes with `workloads.gate.decide` on the stored
record (or the initial one: epoch 0, no grant) and keeps what it returns. A
batch is one transaction, under the hierarchy's log lock (`lock_log`), so two
batches for the same records never decide from the same read: the second sees
what the first committed. As a second line, the write itself only ever raises
a record's fencing token (the upsert's WHERE), whoever writes.

Reported records replace stored ones unless older: a lower epoch, or the same
epoch at an earlier phase (a record goes revoking, granting, held within an
epoch and never back), decided by the upsert's WHERE, so concurrent reports
keep the newest whatever their order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.authority import AuthorityState
from cloud.store.authority_log import lock_log, write_log
from cloud.store.device_view import aware_utc, naive_utc
from cloud.store.dialect import insert_for
from cloud.store.schema import authority_gate, authority_states
from workloads.catalog import Holder, Workload
from workloads.gate import GateDecision, GateRecord, Verdict, decide, initial_gate_record
from workloads.handoff import Phase
from workloads.messages import Command, Key

_CHUNK = 500
# Within one epoch a record only moves forward through these phases.
PHASE_RANK = {Phase.REVOKING: 0, Phase.GRANTING: 1, Phase.HELD: 2}


class GateGuardRefused(RuntimeError):
    """A gate write would have lowered a record's fencing token: a writer bypassed the lock."""


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


async def gate_records(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, smsids: Iterable[str]
) -> dict[Key, tuple[GateRecord, datetime]]:
    """The stored gate records of these devices (absent: never commanded), with their times."""
    found: dict[Key, tuple[GateRecord, datetime]] = {}
    g = authority_gate.c
    for chunk in _chunks(sorted(set(smsids))):
        stmt = sa.select(g.smsid, g.workload, g.epoch, g.holds, g.updated_at).where(
            g.tenant_id == tenant_id, g.hierarchy_id == hierarchy_id, g.smsid.in_(chunk)
        )
        for smsid, workload, epoch, holds, updated_at in await conn.execute(stmt):
            key = (smsid, Workload(workload))
            found[key] = (GateRecord(epoch=int(epoch), holds=bool(holds)), updated_at)
    return found


def _raises_token(new: Any, old: Any) -> sa.ColumnElement[bool]:
    # (epoch, grant-or-revoke) of `new` above that of `old`: the gate's fencing order.
    return sa.or_(
        new.epoch > old.epoch,
        sa.and_(new.epoch == old.epoch, new.holds == sa.true(), old.holds == sa.false()),
    )


async def apply_commands(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    commands: list[Command],
    clock: Callable[[], datetime],
) -> list[GateDecision]:
    """Decide `commands` in order against the cloud gate; keep and log what they applied."""
    lock = await lock_log(conn, tenant_id, hierarchy_id, clock)
    stored = await gate_records(conn, tenant_id, hierarchy_id, (c.device for c in commands))
    records = {key: record for key, (record, _) in stored.items()}
    decisions = []
    changed: dict[Key, GateRecord] = {}
    for command in commands:
        record = records.get(command.key) or initial_gate_record(Holder.CLOUD)
        decision = decide(Holder.CLOUD, record, command)
        if decision.verdict is Verdict.APPLIED:
            records[command.key] = changed[command.key] = decision.record
            lock.applied(command.op.value, command.device, command.workload.value, command.epoch)
        decisions.append(decision)
    rows = [
        {
            "tenant_id": tenant_id,
            "hierarchy_id": hierarchy_id,
            "smsid": smsid,
            "workload": workload.value,
            "epoch": record.epoch,
            "holds": record.holds,
            "updated_at": lock.at,
        }
        for (smsid, workload), record in sorted(changed.items())
    ]
    for chunk in _chunks(rows):
        stmt = insert_for(conn, authority_gate)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "hierarchy_id", "smsid", "workload"],
            set_={name: stmt.excluded[name] for name in ("epoch", "holds", "updated_at")},
            where=_raises_token(stmt.excluded, authority_gate.c),
        ).returning(authority_gate.c.smsid)
        written = (await conn.execute(stmt, chunk)).all()
        if len(written) != len(chunk):
            raise GateGuardRefused("a gate record changed outside the hierarchy's log lock")
    await write_log(conn, lock)
    return decisions


def _state_row(tenant_id: str, hierarchy_id: str, s: AuthorityState, now: datetime) -> dict:
    return {
        "tenant_id": tenant_id,
        "hierarchy_id": hierarchy_id,
        "smsid": s.smsid,
        "workload": s.workload.value,
        "holder": s.holder.value if s.holder else None,
        "epoch": s.epoch,
        "phase": s.phase.value,
        "target": s.target.value if s.target else None,
        "desired": s.desired.value,
        "conflict": s.conflict,
        "updated_at": naive_utc(aware_utc(s.updated_at) or s.updated_at),
        "received_at": now,
    }


def _phase_rank(column: Any) -> sa.ColumnElement[int]:
    return sa.case({p.value: rank for p, rank in PHASE_RANK.items()}, value=column, else_=-1)


async def save_states(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    states: list[AuthorityState],
    now: datetime,
) -> int:
    """Keep each reported record unless the stored one is newer; how many were kept."""
    newest: dict[Key, AuthorityState] = {}
    for state in states:
        key = (state.smsid, state.workload)
        kept = newest.get(key)
        # Within one report too: the newest wins, the later of equals.
        if kept is None or (state.epoch, PHASE_RANK[state.phase]) >= (
            kept.epoch,
            PHASE_RANK[kept.phase],
        ):
            newest[key] = state
    # Sorted: concurrent reports lock the rows they share in one order.
    rows = [_state_row(tenant_id, hierarchy_id, newest[k], now) for k in sorted(newest)]
    s = authority_states.c
    kept_count = 0
    for chunk in _chunks(rows):
        stmt = insert_for(conn, authority_states)
        new = stmt.excluded
        newer = sa.or_(
            new.epoch > s.epoch,
            sa.and_(new.epoch == s.epoch, _phase_rank(new.phase) >= _phase_rank(s.phase)),
        )
        columns = ("holder", "epoch", "phase", "target", "desired", "conflict", "updated_at")
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "hierarchy_id", "smsid", "workload"],
            set_={name: new[name] for name in (*columns, "received_at")},
            where=newer,
        ).returning(s.smsid)
        kept_count += len((await conn.execute(stmt, chunk)).all())
    return kept_count
