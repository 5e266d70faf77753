"""Admin API, device actions: the catalogue, one device's action, bulk actions, the list.

Operators ask for actions and cancel them; viewers read. An action is queued
for its device's hierarchy and the hierarchy's waiting connector is woken
(`action_signals`); the connector's side is `routes_action_relay`. Creating
is idempotent per caller with an `idempotencyKey`. A bulk request acts only
on the set its caller confirmed (count or preview token) and never on more
than its cap. Every handler scopes by `call.tenant_id`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.action_bulk import BulkActionRequest, BulkCreated, BulkPreview, BulkSelection
from cloud.contract.actions import (
    ActionListQuery,
    ActionOut,
    ActionPage,
    ActionRequest,
    CatalogueEntry,
    RunScriptAction,
    catalogue,
)
from cloud.contract.admin import Role
from cloud.service.action_signals import signals_for
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, audit, aware
from cloud.service.state import ServiceState
from cloud.store import action_bulks as bulks
from cloud.store import actions as store
from cloud.store import scripts as script_store
from cloud.store.device_view import QueryError

api = Api()
TAGS = ("actions",)
OPERATE = {"role": Role.OPERATOR, "tags": TAGS, **ADMIN}
VIEW = {"role": Role.VIEWER, "tags": TAGS, **ADMIN}


def notify_queued(state: ServiceState, tenant_id: str, hierarchy_ids: Iterable[str]) -> None:
    """Wake the connectors of these hierarchies waiting in this process for actions."""
    signals = signals_for(state)
    for hierarchy_id in set(hierarchy_ids):
        signals.notify((tenant_id, hierarchy_id))


@api.route("GET", "/api/v1/actionCatalogue", response=CatalogueEntry, list_response=True, **VIEW)
async def action_catalogue(call: Call) -> list[CatalogueEntry]:
    """The actions the tenant offers, with the agent's schedule id of each client action."""
    return catalogue()


async def script_sha256(conn: AsyncConnection, call: Call, spec: Any) -> str | None:
    """The approved script's SHA-256 for a script action (None for others); refuses retired."""
    if not isinstance(spec, RunScriptAction):
        return None
    row = await script_store.get_script(conn, call.tenant_id, spec.script_id)
    if row is None:
        raise ApiError("not_found", "no such script in this tenant", target="action.scriptId")
    if row["retired_at"] is not None:
        raise ApiError("script_retired", "the script was retired", target="action.scriptId")
    return str(row["sha256"])


@api.route("POST", "/api/v1/actions", body=ActionRequest, response=ActionOut, status=201, **OPERATE)
async def request_action(call: Call) -> ActionOut:
    """Queue an action on one attached device (idempotent per caller with `idempotencyKey`).

    Asking again with the same key and the same request answers the first
    action (201 again, same actionId); the same key with another request is
    refused with `idempotency_conflict`.
    """
    try:
        async with call.state.engine.begin() as conn:
            row = await _request(conn, call, call.body)
    except sa.exc.IntegrityError:
        # The same key committed concurrently: a second look answers with it.
        async with call.state.engine.begin() as conn:
            row = await _request(conn, call, call.body)
    notify_queued(call.state, call.tenant_id, [row["hierarchy_id"]])
    return store.action_out(row)


async def _request(conn: AsyncConnection, call: Call, body: ActionRequest) -> Any:
    caller = call.principal
    assert caller is not None
    digest = bulks.request_digest(body)
    if body.idempotency_key is not None:
        earlier = await store.by_idempotency_key(
            conn, call.tenant_id, caller.principal_id, body.idempotency_key
        )
        if earlier is not None:
            if earlier["request_digest"] != digest:
                raise ApiError(
                    "idempotency_conflict",
                    "this idempotencyKey was used for another request",
                    target="idempotencyKey",
                )
            return earlier
    try:
        target = await store.device_target(conn, call.tenant_id, body.device_id)
    except store.NotActionable as exc:
        raise ApiError("device_not_actionable", str(exc), target="deviceId") from None
    if target is None:
        raise ApiError("not_found", "no such device in this tenant", target="deviceId")
    row = store.action_row(
        tenant_id=call.tenant_id,
        target=target,
        spec=body.action,
        script_sha256=await script_sha256(conn, call, body.action),
        requested_by=caller.name,
        requested_by_id=caller.principal_id,
        now=call.state.clock(),
        expires_in_minutes=body.expires_in_minutes,
        idempotency_key=body.idempotency_key,
        request_digest=digest,
    )
    await store.insert_actions(conn, [row])
    details = {"kind": row["kind"], "deviceId": target.device_id, "device": target.device_name}
    await audit(conn, call, "action.requested", row["action_id"], details)
    return row


def _next_link(call: Call, skiptoken: str) -> str:
    params = [(k, v) for k, v in call.request.query.items() if k != "$skiptoken"]
    params.append(("$skiptoken", skiptoken))
    return f"{call.request.url.with_query(None)}?{urlencode(params)}"


@api.route("GET", "/api/v1/actions", query=ActionListQuery, response=ActionPage, **VIEW)
async def list_actions(call: Call) -> ActionPage:
    """Actions of the tenant, newest first: by device, state, kind or bulk; keyset pages."""
    query: ActionListQuery = call.query
    try:
        async with call.state.engine.begin() as conn:
            await store.expire_overdue(conn, call.tenant_id, call.state.clock())
            rows, token = await store.list_actions(conn, call.tenant_id, query)
    except store.BadSkipToken as exc:
        raise ApiError("invalid_query", str(exc), target="$skiptoken") from None
    return ActionPage(
        value=[store.action_out(r) for r in rows],
        next_link=_next_link(call, token) if token else None,
    )


async def _action(conn: AsyncConnection, call: Call) -> Any:
    row = await store.get_action(conn, call.tenant_id, call.param("actionId"))
    if row is None:
        raise ApiError("not_found", "no such action in this tenant")
    return row


@api.route("GET", "/api/v1/actions/{actionId}", response=ActionOut, **VIEW)
async def get_action(call: Call) -> ActionOut:
    """One action with its state, timestamps, output and result."""
    async with call.state.engine.begin() as conn:
        await store.expire_overdue(conn, call.tenant_id, call.state.clock())
        return store.action_out(await _action(conn, call))


@api.route("POST", "/api/v1/actions/{actionId}/cancel", response=ActionOut, **OPERATE)
async def cancel_action(call: Call) -> ActionOut:
    """Cancel an action that has not started (queued or dispatched); audited.

    A dispatched action is cancelled too: its connector is refused when it
    says it starts it, so it never runs. A running or ended action is
    refused with `action_not_cancellable`.
    """
    caller = call.principal
    assert caller is not None
    now = call.state.clock()
    async with call.state.engine.begin() as conn:
        await store.expire_overdue(conn, call.tenant_id, now)
        row = await _action(conn, call)
        if not await store.cancel_action(
            conn, call.tenant_id, row["action_id"], by=caller.name, now=now
        ):
            raise ApiError(
                "action_not_cancellable",
                f"the action is {row['state']}; it can no longer be cancelled",
            )
        await audit(conn, call, "action.cancelled", row["action_id"], {"kind": row["kind"]})
        return store.action_out(await _action(conn, call))


async def _selected(conn: AsyncConnection, call: Call, selection: BulkSelection) -> Any:
    try:
        return await bulks.select_devices(conn, call.tenant_id, selection)
    except QueryError as exc:
        raise ApiError("invalid_body", exc.message, target=f"filter.{exc.parameter}") from None


@api.route(
    "POST", "/api/v1/bulkActions/preview", body=BulkSelection, response=BulkPreview, **OPERATE
)
async def preview_bulk_action(call: Call) -> BulkPreview:
    """How many devices a bulk action would reach now, and the token that confirms exactly them."""
    selection: BulkSelection = call.body
    async with call.state.engine.connect() as conn:
        selected = await _selected(conn, call, selection)
    return BulkPreview(
        matched=selected.matched,
        targets=len(selected.targets),
        skipped=selected.matched - len(selected.targets) if selected.within_cap else 0,
        cap=selected.cap,
        within_cap=selected.within_cap,
        confirm_token=selected.token,
        sample=selected.sample,
    )


@api.route(
    "POST",
    "/api/v1/bulkActions",
    body=BulkActionRequest,
    response=BulkCreated,
    status=201,
    **OPERATE,
)
async def request_bulk_action(call: Call) -> BulkCreated:
    """Queue an action on every device of a confirmed selection (at most its cap).

    Refused with `bulk_cap_exceeded` when the selection matches more devices
    than the cap, and with `bulk_confirmation_mismatch` when its targets are
    not the count (`expectedCount`) or the set (`confirmToken`) the caller
    was shown. Idempotent per caller with `idempotencyKey`.
    """
    try:
        async with call.state.engine.begin() as conn:
            created, hierarchy_ids = await _bulk(conn, call, call.body)
    except sa.exc.IntegrityError:
        async with call.state.engine.begin() as conn:
            created, hierarchy_ids = await _bulk(conn, call, call.body)
    notify_queued(call.state, call.tenant_id, hierarchy_ids)
    return created


async def _bulk(
    conn: AsyncConnection, call: Call, body: BulkActionRequest
) -> tuple[BulkCreated, list[str]]:
    caller = call.principal
    assert caller is not None
    digest = bulks.request_digest(body)
    if body.idempotency_key is not None:
        earlier = await bulks.bulk_by_key(
            conn, call.tenant_id, caller.principal_id, body.idempotency_key
        )
        if earlier is not None:
            if earlier["request_digest"] != digest:
                raise ApiError(
                    "idempotency_conflict",
                    "this idempotencyKey was used for another request",
                    target="idempotencyKey",
                )
            ids = await bulks.actions_of_bulk(conn, call.tenant_id, earlier["bulk_id"])
            return _created(earlier, ids), []
    selection = body.selection()
    selected = await _selected(conn, call, selection)
    if not selected.within_cap:
        raise ApiError(
            "bulk_cap_exceeded",
            f"the selection matches {selected.matched} devices, more than the cap of "
            f"{selected.cap}; narrow the filter",
        )
    count = len(selected.targets)
    if body.expected_count is not None and body.expected_count != count:
        raise ApiError(
            "bulk_confirmation_mismatch",
            f"the selection now reaches {count} devices, not the {body.expected_count} "
            "confirmed; preview it again",
            target="expectedCount",
        )
    if body.confirm_token is not None and body.confirm_token != selected.token:
        raise ApiError(
            "bulk_confirmation_mismatch",
            "the devices the selection reaches changed since the preview; preview it again",
            target="confirmToken",
        )
    sha256 = await script_sha256(conn, call, body.action)
    now = call.state.clock()
    bulk = await bulks.create_bulk(
        conn,
        tenant_id=call.tenant_id,
        kind=body.action.kind,
        selection=selection.wire(),
        count=count,
        requested_by=caller.name,
        requested_by_id=caller.principal_id,
        now=now,
        idempotency_key=body.idempotency_key,
        digest=digest,
    )
    rows = [
        store.action_row(
            tenant_id=call.tenant_id,
            target=target,
            spec=body.action,
            script_sha256=sha256,
            requested_by=caller.name,
            requested_by_id=caller.principal_id,
            now=now,
            expires_in_minutes=body.expires_in_minutes,
            bulk_id=bulk["bulk_id"],
        )
        for target in selected.targets
    ]
    await store.insert_actions(conn, rows)
    details = {"kind": body.action.kind, "count": count, "matched": selected.matched}
    await audit(conn, call, "action.bulk_requested", bulk["bulk_id"], details)
    rows.sort(key=lambda r: (r["device_name"], r["action_id"]))
    created = _created(bulk, [r["action_id"] for r in rows])
    return created, [t.hierarchy_id for t in selected.targets]


def _created(bulk: Any, action_ids: list[str]) -> BulkCreated:
    return BulkCreated(
        bulk_id=bulk["bulk_id"],
        count=len(action_ids),
        action_ids=action_ids,
        requested_at=aware(bulk["requested_at"]),
    )
