"""Connector API, device actions: long-poll claim, started, result (connector listener).

A connector's certificate binds it to one hierarchy: it claims, starts and
reports only that hierarchy's actions (another's are `not_found`). A claim
with `wait` answers as soon as an action is queued (woken in this process,
or found by a look at the store every `RECHECK_SECONDS` when another worker
queued it) or with an empty list when the wait is over.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.action_relay import (
    ActionAck,
    ActionClaim,
    ActionClaimQuery,
    ActionResult,
    ActionStarted,
    ActionTarget,
    ClaimedAction,
    ScriptDelivery,
)
from cloud.contract.actions import SCHEDULES, ActionKind
from cloud.service.action_signals import signals_for
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import aware
from cloud.store import action_queue as queue
from cloud.store import attach as attach_store

api = Api()
CONNECTOR = {"auth": "connector", "listener": "connector", "tags": ("connector", "actions")}


async def _attached(conn: AsyncConnection, call: Call) -> tuple[str, str]:
    who = call.connector
    assert who is not None
    row = await attach_store.get_hierarchy(conn, who.tenant_id, who.hierarchy_id)
    if row is None:
        raise ApiError("not_found", "register the hierarchy first (PUT /connector/v1/hierarchy)")
    if row["detached_at"] is not None:
        raise ApiError(
            "hierarchy_detached", "this hierarchy was detached; enroll again to re-attach"
        )
    return who.tenant_id, who.hierarchy_id


def claimed(row: Any) -> ClaimedAction:
    """A delivery row as the connector receives it."""
    kind = ActionKind(row["kind"])
    script = None
    if row["script_id"] is not None and row["s_content"] is not None:
        script = ScriptDelivery(
            script_id=row["script_id"],
            name=row["s_name"],
            content=row["s_content"],
            sha256=row["s_sha256"],
        )
    return ClaimedAction(
        action_id=row["action_id"],
        kind=kind,
        schedule_id=row["schedule_id"],
        script=script,
        restart_delay_minutes=row["restart_delay_minutes"],
        idempotent=kind in SCHEDULES,
        device=ActionTarget(
            device_id=row["device_id"],
            smsid=row["smsid"],
            resource_id=row["d_resource_id"],
            name=row["device_name"],
            fqdn=row["d_fqdn"],
            netbios_name=row["d_netbios_name"],
            domain=row["d_domain"],
        ),
        requested_at=aware(row["requested_at"]),
        expires_at=aware(row["expires_at"]),
        deliveries=row["deliveries"],
    )


class _PollAbandoned(Exception):
    """The connector closed its connection while its poll waited."""


@api.route(
    "POST", "/connector/v1/actions/claim", query=ActionClaimQuery, response=ActionClaim, **CONNECTOR
)
async def claim_actions(call: Call) -> ActionClaim:
    """Claim up to `limit` queued actions of this hierarchy, waiting up to `wait` s for one.

    Claimed actions are `dispatched`; one not marked running within the lease
    (10 minutes) is offered again, with `deliveries` counting the offers.
    """
    query: ActionClaimQuery = call.query
    who = call.connector
    assert who is not None
    state = call.state
    async with state.engine.connect() as conn:
        tenant_id, hierarchy_id = await _attached(conn, call)

    async def look() -> list[Any]:
        transport = call.request.transport
        if transport is None or transport.is_closing():
            # The connector went away while its poll waited (killed, or the network
            # dropped): claiming now would hand actions to nobody until the lease ends.
            raise _PollAbandoned
        now = state.clock()
        async with state.engine.connect() as conn:
            if not await queue.has_claimable(conn, tenant_id, hierarchy_id, now):
                return []
        async with state.engine.begin() as conn:
            return await queue.claim(
                conn,
                tenant_id=tenant_id,
                hierarchy_id=hierarchy_id,
                connector_id=who.connector_id,
                limit=query.limit,
                now=now,
            )

    try:
        rows = await signals_for(state).wait_for((tenant_id, hierarchy_id), look, query.wait)
    except _PollAbandoned:
        rows = []  # nobody reads this answer; the poll ends now instead of at its deadline
    return ActionClaim(
        value=[claimed(r) for r in rows], server_time=state.clock().replace(tzinfo=UTC)
    )


def _refused(exc: queue.QueueRefusal) -> ApiError:
    return ApiError(exc.code, exc.message, target="actionId")


@api.route(
    "POST", "/connector/v1/actions/started", body=ActionStarted, response=ActionAck, **CONNECTOR
)
async def action_started(call: Call) -> ActionAck:
    """The connector starts a claimed action (it goes running); a repeat answers the same.

    Refused with `action_finished` when the action was cancelled, expired or
    ended meanwhile: the connector must not run it.
    """
    body: ActionStarted = call.body
    try:
        async with call.state.engine.begin() as conn:
            tenant_id, hierarchy_id = await _attached(conn, call)
            done = await queue.mark_running(
                conn,
                tenant_id=tenant_id,
                hierarchy_id=hierarchy_id,
                action_id=body.action_id,
                now=call.state.clock(),
            )
    except queue.QueueRefusal as exc:
        raise _refused(exc) from None
    return ActionAck(action_id=done.action_id, state=done.state, replayed=done.replayed)


@api.route(
    "POST", "/connector/v1/actions/result", body=ActionResult, response=ActionAck, **CONNECTOR
)
async def action_result(call: Call) -> ActionAck:
    """Record how an action ended; the same result again answers 200 as the first time.

    A different result for an action that already has one is refused with
    `action_result_conflict`; a result for a cancelled or expired action
    with `action_finished`.
    """
    body: ActionResult = call.body
    try:
        async with call.state.engine.begin() as conn:
            tenant_id, hierarchy_id = await _attached(conn, call)
            done = await queue.record_result(
                conn,
                tenant_id=tenant_id,
                hierarchy_id=hierarchy_id,
                result=body,
                now=call.state.clock(),
            )
    except queue.QueueRefusal as exc:
        raise _refused(exc) from None
    return ActionAck(action_id=done.action_id, state=done.state, replayed=done.replayed)
