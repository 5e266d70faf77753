"""The connector's side of the action queue: claim, start, result; one hierarchy at a time.

Every statement is scoped by (tenant, hierarchy) of the calling connector,
so a connector only ever sees and changes its own hierarchy's actions.
Several service workers may claim for the same hierarchy at once: each
action is taken by a conditional UPDATE (and, on PostgreSQL, rows another
claim holds are skipped), so no action is handed out twice in one lease.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.action_relay import ActionResult
from cloud.contract.actions import ActionState
from cloud.store.actions import DISPATCH_LEASE, expire_overdue
from cloud.store.schema import action_scripts, device_actions, devices

_C = device_actions.c
_ROUNDS = 3
_ENDED = (
    ActionState.SUCCEEDED.value,
    ActionState.FAILED.value,
    ActionState.EXPIRED.value,
    ActionState.CANCELLED.value,
)


class QueueRefusal(Exception):
    """A connector's update the action's state does not allow; `code` is the API's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Update:
    """An action's state after a connector's update, and whether it was a repeat."""

    action_id: str
    state: ActionState
    replayed: bool


def _claimable(tenant_id: str, hierarchy_id: str, now: datetime) -> list[sa.ColumnElement[bool]]:
    return [
        _C.tenant_id == tenant_id,
        _C.hierarchy_id == hierarchy_id,
        sa.or_(
            _C.state == ActionState.QUEUED.value,
            sa.and_(
                _C.state == ActionState.DISPATCHED.value,
                _C.dispatched_at <= now - DISPATCH_LEASE,
            ),
        ),
    ]


async def claim(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    hierarchy_id: str,
    connector_id: str,
    limit: int,
    now: datetime,
) -> list[sa.RowMapping]:
    """Dispatch up to `limit` of the hierarchy's actions, oldest first; their delivery rows.

    Overdue actions are expired first. Each row holds the action, its
    device's names (`d_*`) and, for a script, the approved text (`s_*`).
    """
    await expire_overdue(conn, tenant_id, now, hierarchy_id)
    ids: list[str] = []
    # A concurrent claim may take some of the rows picked: pick again, a few times.
    for _ in range(_ROUNDS):
        taken = await _take(conn, tenant_id, hierarchy_id, connector_id, limit - len(ids), now)
        ids += taken.ids
        if len(ids) >= limit or not taken.picked or len(taken.ids) == taken.picked:
            break
    if not ids:
        return []
    d, s = devices.c, action_scripts.c
    joined = device_actions.outerjoin(
        devices, sa.and_(d.tenant_id == _C.tenant_id, d.device_id == _C.device_id)
    ).outerjoin(action_scripts, sa.and_(s.tenant_id == _C.tenant_id, s.script_id == _C.script_id))
    stmt = (
        sa.select(
            device_actions,
            d.resource_id.label("d_resource_id"),
            d.fqdn.label("d_fqdn"),
            d.netbios_name.label("d_netbios_name"),
            d.domain.label("d_domain"),
            s.name.label("s_name"),
            s.content.label("s_content"),
            s.sha256.label("s_sha256"),
        )
        .select_from(joined)
        .where(_C.tenant_id == tenant_id, _C.action_id.in_(ids))
        .order_by(_C.requested_at, _C.action_id)
    )
    return list((await conn.execute(stmt)).mappings().all())


@dataclass(frozen=True)
class _Taken:
    picked: int
    ids: list[str]


async def _take(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    connector_id: str,
    limit: int,
    now: datetime,
) -> _Taken:
    """Pick up to `limit` claimable actions, oldest first, and dispatch those still claimable."""
    pick = (
        sa.select(_C.action_id)
        .where(*_claimable(tenant_id, hierarchy_id, now))
        .order_by(_C.requested_at, _C.action_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    wanted = [r for (r,) in await conn.execute(pick)]
    if not wanted:
        return _Taken(0, [])
    taken = await conn.execute(
        device_actions.update()
        .where(*_claimable(tenant_id, hierarchy_id, now), _C.action_id.in_(wanted))
        .values(
            state=ActionState.DISPATCHED.value,
            dispatched_at=now,
            deliveries=_C.deliveries + 1,
            connector_id=connector_id,
        )
        .returning(_C.action_id)
    )
    return _Taken(len(wanted), [r for (r,) in taken])


async def has_claimable(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, now: datetime
) -> bool:
    """Whether a claim now would find an action (a read: no lock taken)."""
    stmt = sa.select(_C.action_id).where(*_claimable(tenant_id, hierarchy_id, now)).limit(1)
    return (await conn.execute(stmt)).first() is not None


async def _own(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, action_id: str
) -> sa.RowMapping:
    stmt = sa.select(device_actions).where(
        _C.tenant_id == tenant_id, _C.hierarchy_id == hierarchy_id, _C.action_id == action_id
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        raise QueueRefusal("not_found", "no such action for this connector's hierarchy")
    return row


def _ended(row: sa.RowMapping) -> QueueRefusal:
    return QueueRefusal(
        "action_finished", f"the action already ended ({row['state']}); do not run it"
    )


async def mark_running(
    conn: AsyncConnection, *, tenant_id: str, hierarchy_id: str, action_id: str, now: datetime
) -> Update:
    """Dispatched -> running; running again is a repeat; ended or unclaimed is refused."""
    row = await _own(conn, tenant_id, hierarchy_id, action_id)
    if row["state"] == ActionState.RUNNING.value:
        return Update(action_id, ActionState.RUNNING, replayed=True)
    if row["state"] in _ENDED:
        raise _ended(row)
    if row["state"] == ActionState.QUEUED.value:
        raise QueueRefusal("conflict", "the action was not claimed; claim it first")
    done = await conn.execute(
        device_actions.update()
        .where(
            _C.tenant_id == tenant_id,
            _C.action_id == action_id,
            _C.state == ActionState.DISPATCHED.value,
        )
        .values(state=ActionState.RUNNING.value, started_at=now)
    )
    if done.rowcount != 1:  # changed meanwhile (cancelled, expired, or marked by a repeat)
        return await mark_running(
            conn, tenant_id=tenant_id, hierarchy_id=hierarchy_id, action_id=action_id, now=now
        )
    return Update(action_id, ActionState.RUNNING, replayed=False)


def result_digest(result: ActionResult) -> str:
    """What makes two reports of a result the same result."""
    return hashlib.sha256(result.model_dump_json().encode()).hexdigest()


async def record_result(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    hierarchy_id: str,
    result: ActionResult,
    now: datetime,
) -> Update:
    """Store how the action ended, once: the same result again is a repeat, another a conflict."""
    digest = result_digest(result)
    row = await _own(conn, tenant_id, hierarchy_id, result.action_id)
    if row["result_digest"] is not None:
        if row["result_digest"] == digest:
            return Update(result.action_id, ActionState(row["state"]), replayed=True)
        raise QueueRefusal(
            "action_result_conflict",
            f"a different result was already recorded ({row['state']}); it stays",
        )
    if row["state"] in _ENDED:
        raise _ended(row)
    if row["state"] == ActionState.QUEUED.value:
        raise QueueRefusal("conflict", "the action was not claimed; claim it first")
    done = await conn.execute(
        device_actions.update()
        .where(
            _C.tenant_id == tenant_id,
            _C.action_id == result.action_id,
            _C.state.in_([ActionState.DISPATCHED.value, ActionState.RUNNING.value]),
            _C.result_digest.is_(None),
        )
        .values(
            state=result.state,
            # Never started (expired on the connector's side): no start time is made up.
            started_at=_C.started_at
            if result.state == ActionState.EXPIRED.value
            else sa.func.coalesce(_C.started_at, now),
            completed_at=now,
            exit_code=result.exit_code,
            return_value=result.return_value,
            output=result.output,
            output_truncated=result.output_truncated,
            error_code=result.error_code,
            error_message=result.error_message,
            result_digest=digest,
        )
    )
    if done.rowcount != 1:  # a concurrent report or cancel got there first: answer as it stands
        return await record_result(
            conn, tenant_id=tenant_id, hierarchy_id=hierarchy_id, result=result, now=now
        )
    return Update(result.action_id, ActionState(result.state), replayed=False)
