"""Rollout orders and reports in the tenant store: queue, results, the status last reported.

Every statement is scoped by (tenant_id, hierarchy_id) (DESIGN.md section 9).
An order gets the next `seq` of its hierarchy, so its connector runs them in
the order they were asked; two concurrent creates that pick the same `seq`
collide on its unique constraint and the caller tries again. A result is
recorded once: the same result again is a replay, another one a conflict.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.rollouts import (
    RolloutError,
    RolloutOrder,
    RolloutOrderOut,
    RolloutOrderResult,
    RolloutOrderState,
    RolloutOut,
    RolloutStatusReport,
)
from cloud.store.schema import rollout_orders, rollout_reports

QUEUED = RolloutOrderState.QUEUED.value


class OrderRefusal(Exception):
    """A connector's result the store will not record; `code` is the API's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def request_digest(order: RolloutOrder) -> str:
    """What makes two orders under one idempotency key the same order (key order ignored)."""
    return _digest(order.model_dump(mode="json", exclude={"idempotency_key"}))


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def order_out(row: Any) -> RolloutOrderOut:
    """A stored order as admins (and its connector) see it."""
    error = None
    if row["error_code"] is not None:
        error = RolloutError(
            code=row["error_code"], message=row["error_message"], hint=row["error_hint"]
        )
    return RolloutOrderOut(
        order_id=row["order_id"],
        hierarchy_id=row["hierarchy_id"],
        op=row["op"],
        state=row["state"],
        document=row["document"],
        plan_hash=row["plan_hash"],
        reason=row["reason"],
        requested_by=row["requested_by"],
        requested_at=_aware(row["requested_at"]),
        done_at=_aware(row["done_at"]),
        result=row["result"],
        error=error,
    )


def _where(tenant_id: str, hierarchy_id: str) -> list[Any]:
    c = rollout_orders.c
    return [c.tenant_id == tenant_id, c.hierarchy_id == hierarchy_id]


async def get_order(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, order_id: str
) -> sa.RowMapping | None:
    """The hierarchy's order, or None."""
    stmt = sa.select(rollout_orders).where(
        *_where(tenant_id, hierarchy_id), rollout_orders.c.order_id == order_id
    )
    return (await conn.execute(stmt)).mappings().first()


async def by_idempotency_key(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, principal_id: str, key: str
) -> sa.RowMapping | None:
    """The caller's order of this hierarchy made with `key`, or None."""
    c = rollout_orders.c
    stmt = sa.select(rollout_orders).where(
        *_where(tenant_id, hierarchy_id),
        c.requested_by_id == principal_id,
        c.idempotency_key == key,
    )
    return (await conn.execute(stmt)).mappings().first()


async def create_order(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    hierarchy_id: str,
    order: RolloutOrder,
    idempotency_key: str | None,
    requested_by: str,
    requested_by_id: str,
    now: datetime,
) -> sa.RowMapping:
    """Queue `order` as the hierarchy's next (may raise IntegrityError on a concurrent create)."""
    last = await conn.execute(
        sa.select(sa.func.max(rollout_orders.c.seq)).where(*_where(tenant_id, hierarchy_id))
    )
    order_id = str(uuid.uuid4())
    await conn.execute(
        rollout_orders.insert().values(
            tenant_id=tenant_id,
            hierarchy_id=hierarchy_id,
            order_id=order_id,
            seq=(last.scalar() or 0) + 1,
            op=order.op.value,
            document=order.document,
            plan_hash=order.plan_hash,
            reason=order.reason,
            state=QUEUED,
            requested_by=requested_by,
            requested_by_id=requested_by_id,
            idempotency_key=idempotency_key,
            request_digest=request_digest(order),
            requested_at=now,
        )
    )
    found = await get_order(conn, tenant_id, hierarchy_id, order_id)
    assert found is not None
    return found


async def list_orders(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    *,
    state: RolloutOrderState | None = None,
    top: int = 50,
) -> list[sa.RowMapping]:
    """The hierarchy's orders, newest first."""
    stmt = sa.select(rollout_orders).where(*_where(tenant_id, hierarchy_id))
    if state is not None:
        stmt = stmt.where(rollout_orders.c.state == state.value)
    stmt = stmt.order_by(rollout_orders.c.seq.desc()).limit(top)
    return list((await conn.execute(stmt)).mappings().all())


async def queued_orders(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, *, limit: int
) -> list[sa.RowMapping]:
    """The hierarchy's orders not yet run, oldest first (the order its connector runs them)."""
    stmt = (
        sa.select(rollout_orders)
        .where(*_where(tenant_id, hierarchy_id), rollout_orders.c.state == QUEUED)
        .order_by(rollout_orders.c.seq)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings().all())


async def record_result(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    order_id: str,
    result: RolloutOrderResult,
    now: datetime,
) -> tuple[sa.RowMapping, bool]:
    """Record how the order ended; (the order, whether it already had exactly this result)."""
    row = await get_order(conn, tenant_id, hierarchy_id, order_id)
    if row is None:
        raise OrderRefusal("not_found", "no such rollout order of this hierarchy")
    digest = _digest(result.model_dump(mode="json"))
    if row["state"] != QUEUED:
        if row["result_digest"] == digest:
            return row, True
        raise OrderRefusal(
            "rollout_result_conflict",
            f"the order already ended {row['state']} with another result",
        )
    error = result.error
    done = await conn.execute(
        rollout_orders.update()
        .where(
            *_where(tenant_id, hierarchy_id),
            rollout_orders.c.order_id == order_id,
            rollout_orders.c.state == QUEUED,
        )
        .values(
            state=result.state,
            done_at=now,
            result=result.result,
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            error_hint=error.hint if error else None,
            result_digest=digest,
        )
    )
    if done.rowcount != 1:  # a concurrent report won: judge against it
        return await record_result(conn, tenant_id, hierarchy_id, order_id, result, now)
    found = await get_order(conn, tenant_id, hierarchy_id, order_id)
    assert found is not None
    return found, False


async def save_report(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    report: RolloutStatusReport,
    now: datetime,
) -> bool:
    """Keep the connector's rollout status if it differs from the one held; whether it did."""
    status = report.model_dump(mode="json", by_alias=True)
    digest = _digest(status)
    c = rollout_reports.c
    held = await conn.execute(
        sa.select(c.digest).where(c.tenant_id == tenant_id, c.hierarchy_id == hierarchy_id)
    )
    current = held.scalar()
    if current == digest:
        return False
    values = {"status": status, "digest": digest, "reported_at": now}
    if current is None:
        await conn.execute(
            rollout_reports.insert().values(
                tenant_id=tenant_id, hierarchy_id=hierarchy_id, **values
            )
        )
    else:
        await conn.execute(
            rollout_reports.update()
            .where(c.tenant_id == tenant_id, c.hierarchy_id == hierarchy_id)
            .values(**values)
        )
    return True


async def get_report(conn: AsyncConnection, tenant_id: str, hierarchy_id: str) -> RolloutOut:
    """The hierarchy's rollout as last reported (`rollout` None when never)."""
    c = rollout_reports.c
    row = (
        (
            await conn.execute(
                sa.select(rollout_reports).where(
                    c.tenant_id == tenant_id, c.hierarchy_id == hierarchy_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return RolloutOut(hierarchy_id=hierarchy_id, reported_at=None, rollout=None)
    return RolloutOut(
        hierarchy_id=hierarchy_id,
        reported_at=_aware(row["reported_at"]),
        rollout=RolloutStatusReport.model_validate(row["status"]),
    )
