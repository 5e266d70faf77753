"""Device actions as admins make and read them: targets, rows, the list, cancel, expiry.

Every statement is scoped by tenant_id (DESIGN.md section 9). An action row
names its device both ways: the tenant's device id (for admins) and
(hierarchy, SMSID) (the key its connector knows). The connector's side of
the queue (claim, start, result) is `cloud.store.action_queue`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.actions import (
    SCHEDULES,
    ActionKind,
    ActionListQuery,
    ActionOut,
    ActionState,
    RestartAction,
    RunScriptAction,
    TriggerAction,
)
from cloud.store.schema import device_actions, devices, hierarchies

# Ended states are final; these may still change.
OPEN_STATES = (
    ActionState.QUEUED.value,
    ActionState.DISPATCHED.value,
    ActionState.RUNNING.value,
)
# A dispatched action not marked running within the lease is offered again.
DISPATCH_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Target:
    """An attached device that can take an action."""

    device_id: str
    device_name: str
    hierarchy_id: str
    smsid: str


class NotActionable(Exception):
    """The device exists but cannot take an action (the reason says why)."""


async def device_target(conn: AsyncConnection, tenant_id: str, device_id: str) -> Target | None:
    """The device as an action target; None if the tenant has no such live device.

    Raises `NotActionable` for a device without a hierarchy (MDM only),
    without the agent, or of a detached hierarchy.
    """
    stmt = (
        sa.select(
            devices.c.device_id,
            devices.c.name,
            devices.c.hierarchy_id,
            devices.c.smsid,
            devices.c.client,
            hierarchies.c.detached_at,
        )
        .select_from(
            devices.outerjoin(
                hierarchies,
                sa.and_(
                    hierarchies.c.tenant_id == devices.c.tenant_id,
                    hierarchies.c.hierarchy_id == devices.c.hierarchy_id,
                ),
            )
        )
        .where(
            devices.c.tenant_id == tenant_id,
            devices.c.device_id == device_id,
            devices.c.deleted_at.is_(None),
        )
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        return None
    if row["hierarchy_id"] is None or row["smsid"] is None:
        raise NotActionable("the device is not attached to a hierarchy (MDM only)")
    if not row["client"]:
        raise NotActionable("the device has no Configuration Manager agent")
    if row["detached_at"] is not None:
        raise NotActionable("the device's hierarchy was detached")
    return Target(row["device_id"], row["name"], row["hierarchy_id"], row["smsid"])


def action_row(
    *,
    tenant_id: str,
    target: Target,
    spec: TriggerAction | RunScriptAction | RestartAction,
    script_sha256: str | None,
    requested_by: str,
    requested_by_id: str,
    now: datetime,
    expires_in_minutes: int,
    bulk_id: str | None = None,
    idempotency_key: str | None = None,
    request_digest: str | None = None,
) -> dict[str, Any]:
    """A new queued action row for `target`."""
    kind = ActionKind(spec.kind)
    return {
        "tenant_id": tenant_id,
        "action_id": str(uuid.uuid4()),
        "hierarchy_id": target.hierarchy_id,
        "smsid": target.smsid,
        "device_id": target.device_id,
        "device_name": target.device_name,
        "kind": kind.value,
        "schedule_id": SCHEDULES.get(kind),
        "script_id": spec.script_id if isinstance(spec, RunScriptAction) else None,
        "script_sha256": script_sha256,
        "restart_delay_minutes": spec.delay_minutes if isinstance(spec, RestartAction) else None,
        "state": ActionState.QUEUED.value,
        "bulk_id": bulk_id,
        "requested_by": requested_by,
        "requested_by_id": requested_by_id,
        "idempotency_key": idempotency_key,
        "request_digest": request_digest,
        "requested_at": now,
        "expires_at": now + timedelta(minutes=expires_in_minutes),
        "dispatched_at": None,
        "deliveries": 0,
        "connector_id": None,
        "started_at": None,
        "completed_at": None,
        "cancelled_by": None,
        "exit_code": None,
        "return_value": None,
        "output": None,
        "output_truncated": False,
        "error_code": None,
        "error_message": None,
        "result_digest": None,
    }


async def insert_actions(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Store new action rows (one statement for many)."""
    if rows:
        await conn.execute(device_actions.insert(), list(rows))


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def action_out(row: Any) -> ActionOut:
    """A stored action as admins see it."""
    return ActionOut(
        action_id=row["action_id"],
        device_id=row["device_id"],
        device_name=row["device_name"],
        hierarchy_id=row["hierarchy_id"],
        smsid=row["smsid"],
        kind=ActionKind(row["kind"]),
        schedule_id=row["schedule_id"],
        script_id=row["script_id"],
        script_sha256=row["script_sha256"],
        restart_delay_minutes=row["restart_delay_minutes"],
        state=ActionState(row["state"]),
        bulk_id=row["bulk_id"],
        requested_by=row["requested_by"],
        requested_at=_aware(row["requested_at"]),
        expires_at=_aware(row["expires_at"]),
        dispatched_at=_aware(row["dispatched_at"]),
        started_at=_aware(row["started_at"]),
        completed_at=_aware(row["completed_at"]),
        cancelled_by=row["cancelled_by"],
        deliveries=row["deliveries"],
        exit_code=row["exit_code"],
        return_value=row["return_value"],
        output=row["output"],
        output_truncated=row["output_truncated"],
        error_code=row["error_code"],
        error_message=row["error_message"],
    )


async def get_action(conn: AsyncConnection, tenant_id: str, action_id: str) -> sa.RowMapping | None:
    """The tenant's action, or None."""
    stmt = sa.select(device_actions).where(
        device_actions.c.tenant_id == tenant_id, device_actions.c.action_id == action_id
    )
    return (await conn.execute(stmt)).mappings().first()


async def by_idempotency_key(
    conn: AsyncConnection, tenant_id: str, principal_id: str, key: str
) -> sa.RowMapping | None:
    """The caller's single action made with `key`, or None."""
    stmt = sa.select(device_actions).where(
        device_actions.c.tenant_id == tenant_id,
        device_actions.c.requested_by_id == principal_id,
        device_actions.c.idempotency_key == key,
    )
    return (await conn.execute(stmt)).mappings().first()


class BadSkipToken(ValueError):
    """A `$skiptoken` that is not one this list made."""


def _token(row: Any) -> str:
    text = f"{row['requested_at'].isoformat()}|{row['action_id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _position(token: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, action_id = text.split("|", 1)
        return datetime.fromisoformat(moment), action_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadSkipToken("the $skiptoken is not one this list gave") from None


async def list_actions(
    conn: AsyncConnection, tenant_id: str, query: ActionListQuery
) -> tuple[list[sa.RowMapping], str | None]:
    """A page of the tenant's actions, newest first, and the next page's token."""
    c = device_actions.c
    stmt = sa.select(device_actions).where(c.tenant_id == tenant_id)
    if query.device_id is not None:
        stmt = stmt.where(c.device_id == query.device_id)
    if query.state is not None:
        stmt = stmt.where(c.state == query.state.value)
    if query.kind is not None:
        stmt = stmt.where(c.kind == query.kind.value)
    if query.bulk_id is not None:
        stmt = stmt.where(c.bulk_id == query.bulk_id)
    if query.skiptoken is not None:
        at, action_id = _position(query.skiptoken)
        stmt = stmt.where(
            sa.or_(c.requested_at < at, sa.and_(c.requested_at == at, c.action_id < action_id))
        )
    stmt = stmt.order_by(c.requested_at.desc(), c.action_id.desc()).limit(query.top + 1)
    rows = list((await conn.execute(stmt)).mappings().all())
    if len(rows) <= query.top:
        return rows, None
    rows = rows[: query.top]
    return rows, _token(rows[-1])


async def cancel_action(
    conn: AsyncConnection, tenant_id: str, action_id: str, *, by: str, now: datetime
) -> bool:
    """Cancel the action if it has not started (queued or dispatched); whether it did."""
    done = await conn.execute(
        device_actions.update()
        .where(
            device_actions.c.tenant_id == tenant_id,
            device_actions.c.action_id == action_id,
            device_actions.c.state.in_([ActionState.QUEUED.value, ActionState.DISPATCHED.value]),
        )
        .values(state=ActionState.CANCELLED.value, completed_at=now, cancelled_by=by)
    )
    return done.rowcount == 1


async def expire_overdue(
    conn: AsyncConnection, tenant_id: str, now: datetime, hierarchy_id: str | None = None
) -> int:
    """End as `expired` the actions no connector took in time; how many.

    A queued action expires at its `expires_at`; a dispatched one only once
    its lease lapsed too (its connector never said it started it).
    """
    c = device_actions.c
    overdue = [
        c.tenant_id == tenant_id,
        c.expires_at <= now,
        sa.or_(
            c.state == ActionState.QUEUED.value,
            sa.and_(
                c.state == ActionState.DISPATCHED.value, c.dispatched_at <= now - DISPATCH_LEASE
            ),
        ),
    ]
    if hierarchy_id is not None:
        overdue.append(c.hierarchy_id == hierarchy_id)
    # A look first: a read takes no write lock when there is nothing to expire.
    found = await conn.execute(sa.select(c.action_id).where(*overdue).limit(1))
    if found.first() is None:
        return 0
    done = await conn.execute(
        device_actions.update()
        .where(*overdue)
        .values(
            state=ActionState.EXPIRED.value,
            completed_at=now,
            error_code="expired",
            error_message="no connector ran the action before it expired",
        )
    )
    return done.rowcount
