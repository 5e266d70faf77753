"""Rollouts through the tenant API: orders to a hierarchy's connector, results, its status.

Admin listener: operators queue orders (plan, apply, pause, resume, abort,
rollback) for a hierarchy, idempotent per caller and hierarchy with an
idempotency key (the `Idempotency-Key` header or the body's
`idempotencyKey`); viewers read the orders and the rollout its connector
last reported. Connector listener: the connector fetches its hierarchy's
queued orders (oldest first), posts each one's result (idempotent) and
reports its rollout's status. Every handler scopes by the caller's tenant;
a connector's certificate binds it to its own hierarchy.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.actions import IDEMPOTENCY_KEY
from cloud.contract.admin import Role
from cloud.contract.rollouts import (
    MAX_QUEUED,
    RolloutOrder,
    RolloutOrderAck,
    RolloutOrderOut,
    RolloutOrderPage,
    RolloutOrderQuery,
    RolloutOrderResult,
    RolloutOut,
    RolloutStatusAck,
    RolloutStatusReport,
)
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, attached_connector, audit, aware
from cloud.store import attach as attach_store
from cloud.store import rollouts as store

api = Api()
TAGS = ("rollouts",)
OPERATE = {"role": Role.OPERATOR, "tags": TAGS, **ADMIN}
VIEW = {"role": Role.VIEWER, "tags": TAGS, **ADMIN}
CONNECTOR = {"auth": "connector", "listener": "connector", "tags": ("connector", "rollouts")}
BASE = "/api/v1/hierarchies/{hierarchyId}"
HEADER = "Idempotency-Key"
# Creates that collide with a concurrent one (the same seq or key) are tried this often.
ATTEMPTS = 3


async def _hierarchy_row(conn: AsyncConnection, call: Call) -> sa.RowMapping:
    row = await attach_store.get_hierarchy(conn, call.tenant_id, call.param("hierarchyId"))
    if row is None:
        raise ApiError("not_found", "no such hierarchy in this tenant")
    return row


async def _hierarchy(conn: AsyncConnection, call: Call) -> str:
    return str((await _hierarchy_row(conn, call))["hierarchy_id"])


def idempotency_key(call: Call, order: RolloutOrder) -> str | None:
    """The order's key: the `Idempotency-Key` header, or the body's (the same if both)."""
    header = call.request.headers.get(HEADER)
    if header is not None and not re.fullmatch(IDEMPOTENCY_KEY, header):
        raise ApiError(
            "bad_request",
            f"the {HEADER} header must be 1-128 printable ASCII characters without spaces",
            target=HEADER,
        )
    key = order.idempotency_key
    if header is not None and key is not None and header != key:
        raise ApiError(
            "bad_request",
            f"the {HEADER} header and idempotencyKey differ; send one of them",
            target=HEADER,
        )
    return header if header is not None else key


@api.route(
    "POST",
    f"{BASE}/rolloutOrders",
    body=RolloutOrder,
    response=RolloutOrderOut,
    status=202,
    **OPERATE,
)
async def create_rollout_order(call: Call) -> RolloutOrderOut:
    """Queue an order for the hierarchy's connector; accepted (202), run at its next look.

    With an idempotency key (the `Idempotency-Key` header or `idempotencyKey`),
    asking again with the same order answers the first one (202 again, same
    orderId, its state now); the same key with another order is refused with
    `idempotency_conflict`. Refused with `hierarchy_detached` once detached.
    """
    order: RolloutOrder = call.body
    key = idempotency_key(call, order)
    for attempt in range(ATTEMPTS):
        try:
            async with call.state.engine.begin() as conn:
                return await _create(conn, call, order, key)
        except sa.exc.IntegrityError:
            # A concurrent create took the same seq or key: look again.
            if attempt == ATTEMPTS - 1:
                raise ApiError(
                    "conflict", "the order collided with others; send it again"
                ) from None
    raise AssertionError("unreachable")


async def _create(
    conn: AsyncConnection, call: Call, order: RolloutOrder, key: str | None
) -> RolloutOrderOut:
    caller = call.principal
    assert caller is not None
    hierarchy = await _hierarchy_row(conn, call)
    hierarchy_id = str(hierarchy["hierarchy_id"])
    if key is not None:
        earlier = await store.by_idempotency_key(
            conn, call.tenant_id, hierarchy_id, caller.principal_id, key
        )
        if earlier is not None:
            if earlier["request_digest"] != store.request_digest(order):
                raise ApiError(
                    "idempotency_conflict",
                    "this idempotency key was used for another order",
                    target="idempotencyKey",
                )
            return store.order_out(earlier)
    if hierarchy["detached_at"] is not None:
        raise ApiError(
            "hierarchy_detached", "this hierarchy was detached; no connector runs orders"
        )
    row = await store.create_order(
        conn,
        tenant_id=call.tenant_id,
        hierarchy_id=hierarchy_id,
        order=order,
        idempotency_key=key,
        requested_by=caller.name,
        requested_by_id=caller.principal_id,
        now=call.state.clock(),
    )
    details = {"hierarchyId": hierarchy_id, "op": order.op.value}
    if order.document is not None:
        details["rollout"] = order.desired_state().name
    if order.plan_hash is not None:
        details["planHash"] = order.plan_hash
    if order.reason is not None:
        details["reason"] = order.reason
    await audit(conn, call, "rollout_order.requested", row["order_id"], details)
    return store.order_out(row)


@api.route("GET", f"{BASE}/rolloutOrders/{{orderId}}", response=RolloutOrderOut, **VIEW)
async def get_rollout_order(call: Call) -> RolloutOrderOut:
    """One order: what was asked, and its result (the plan or the rollout's status) or refusal."""
    async with call.state.engine.connect() as conn:
        hierarchy_id = await _hierarchy(conn, call)
        row = await store.get_order(conn, call.tenant_id, hierarchy_id, call.param("orderId"))
    if row is None:
        raise ApiError("not_found", "no such rollout order of this hierarchy")
    return store.order_out(row)


@api.route(
    "GET",
    f"{BASE}/rolloutOrders",
    query=RolloutOrderQuery,
    response=RolloutOrderPage,
    **VIEW,
)
async def list_rollout_orders(call: Call) -> RolloutOrderPage:
    """The hierarchy's orders, newest first (`state` filters, `$top` bounds)."""
    query: RolloutOrderQuery = call.query
    async with call.state.engine.connect() as conn:
        hierarchy_id = await _hierarchy(conn, call)
        rows = await store.list_orders(
            conn, call.tenant_id, hierarchy_id, state=query.state, top=query.top
        )
    return RolloutOrderPage(value=[store.order_out(r) for r in rows])


@api.route("GET", f"{BASE}/rollout", response=RolloutOut, **VIEW)
async def get_rollout(call: Call) -> RolloutOut:
    """The hierarchy's rollout (active, else the last) as its connector last reported it."""
    async with call.state.engine.connect() as conn:
        hierarchy_id = await _hierarchy(conn, call)
        return await store.get_report(conn, call.tenant_id, hierarchy_id)


@api.route(
    "GET",
    "/connector/v1/rollouts/orders",
    response=RolloutOrderOut,
    list_response=True,
    **CONNECTOR,
)
async def queued_rollout_orders(call: Call) -> list[RolloutOrderOut]:
    """This hierarchy's orders not yet run, oldest first (at most 20; the rest next time)."""
    async with call.state.engine.connect() as conn:
        tenant_id, hierarchy_id = await attached_connector(call, conn)
        rows = await store.queued_orders(conn, tenant_id, hierarchy_id, limit=MAX_QUEUED)
    return [store.order_out(r) for r in rows]


@api.route(
    "POST",
    "/connector/v1/rollouts/orders/{orderId}/result",
    body=RolloutOrderResult,
    response=RolloutOrderAck,
    **CONNECTOR,
)
async def rollout_order_result(call: Call) -> RolloutOrderAck:
    """How the order ended; the same result again answers 200 as the first time (`replayed`).

    Another result for an order that already has one is refused with
    `rollout_result_conflict`; an order of another hierarchy is `not_found`.
    """
    body: RolloutOrderResult = call.body
    try:
        async with call.state.engine.begin() as conn:
            tenant_id, hierarchy_id = await attached_connector(call, conn)
            row, replayed = await store.record_result(
                conn, tenant_id, hierarchy_id, call.param("orderId"), body, call.state.clock()
            )
    except store.OrderRefusal as exc:
        raise ApiError(exc.code, exc.message, target="orderId") from None
    return RolloutOrderAck(order_id=row["order_id"], state=row["state"], replayed=replayed)


@api.route(
    "POST",
    "/connector/v1/rollouts/status",
    body=RolloutStatusReport,
    response=RolloutStatusAck,
    **CONNECTOR,
)
async def report_rollout_status(call: Call) -> RolloutStatusAck:
    """The connector's rollout status (`cobridge workloads status --json`); kept when it changed."""
    body: RolloutStatusReport = call.body
    now = call.state.clock()
    try:
        async with call.state.engine.begin() as conn:
            tenant_id, hierarchy_id = await attached_connector(call, conn)
            changed = await store.save_report(conn, tenant_id, hierarchy_id, body, now)
    except sa.exc.IntegrityError:
        # The first report of this hierarchy, sent twice at once: the other one is kept.
        changed = False
    return RolloutStatusAck(changed=changed, reported_at=aware(now))
