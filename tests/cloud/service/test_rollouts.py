"""Rollout orders and status through the tenant API over real HTTPS, on SQLite and PostgreSQL.

Operators queue orders for a hierarchy (viewers only read them); the
hierarchy's connector fetches its own queued orders, oldest first, posts each
result once (the same result again is a replay, another one a conflict) and
reports its rollout's status, which the tenant keeps only when it changed.
Idempotency keys (header or body) answer the first order; a bad order is
refused with the key that is wrong. The connector side over a real site is
tests/system/rollout/test_remote.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bridge.tenant.errors import CloudApiError
from cloud.contract.admin import Role
from cloud.contract.rollouts import (
    RolloutError,
    RolloutOrder,
    RolloutOrderResult,
    RolloutOrderState,
)
from tests.support.action_world import ActionWorld, action_world
from tests.support.cloud_service import RunningService
from tests.support.rollout_orders import DOCUMENT, PLAN_HASH, status
from tests.support.service_fixtures import shared_service

MODULE = pytest.mark.asyncio(loop_scope="module")
TWO = {"H-PS1": [1, 2], "H-PS2": [3]}


service = shared_service  # one service per module and backend


async def post_order(
    service: RunningService,
    world: ActionWorld,
    body: Any,
    *,
    role: Role = Role.OPERATOR,
    hierarchy_id: str = "H-PS1",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST a raw order body; (status, JSON answer)."""
    url = f"{service.api_url}/api/v1/hierarchies/{hierarchy_id}/rolloutOrders"
    session = service.session(token=world.tokens[role])
    async with session.post(url, json=body, headers=headers or {}) as r:
        return r.status, await r.json()


@MODULE
async def test_a_plan_order_is_fetched_answered_once_and_read_back(service: RunningService) -> None:
    async with action_world(service) as world:
        made = await world.operator.create_rollout_order(
            "H-PS1", RolloutOrder(op="plan", document=DOCUMENT)
        )
        assert (made.state, made.op.value, made.hierarchy_id) == ("queued", "plan", "H-PS1")
        assert made.requested_by == f"{world.name}-operator"
        assert made.document == DOCUMENT
        assert (made.done_at, made.result, made.error) == (None, None, None)

        [queued] = await world.connector().queued_rollout_orders()
        assert queued == made
        plan = {"plan_hash": PLAN_HASH, "has_changes": True, "totals": {"moves": 4}}
        done = RolloutOrderResult(state="done", result=plan)
        ack = await world.connector().post_rollout_result(made.order_id, done)
        assert (ack.state, ack.replayed) == (RolloutOrderState.DONE, False)
        ack = await world.connector().post_rollout_result(made.order_id, done)
        assert (ack.state, ack.replayed) == (RolloutOrderState.DONE, True)
        other = RolloutOrderResult(
            state="refused", error=RolloutError(code="site_read_incomplete", message="cut off")
        )
        with pytest.raises(CloudApiError) as refused:
            await world.connector().post_rollout_result(made.order_id, other)
        assert (refused.value.status, refused.value.code) == (409, "rollout_result_conflict")
        assert await world.connector().queued_rollout_orders() == []

        read = await world.viewer.rollout_order("H-PS1", made.order_id)
        assert (read.state, read.result, read.error) == ("done", plan, None)
        assert read.done_at is not None
        assert read.done_at >= read.requested_at
        listed = await world.viewer.list_rollout_orders("H-PS1")
        assert [o.order_id for o in listed] == [made.order_id]
        assert await world.viewer.list_rollout_orders("H-PS1", state=RolloutOrderState.QUEUED) == []

        async with service.session(token=world.tokens[Role.ADMIN]).get(
            f"{service.api_url}/api/v1/auditLog"
        ) as r:
            entries = [e for e in (await r.json())["value"] if e["action"].startswith("rollout")]
        [entry] = entries
        assert entry["action"] == "rollout_order.requested"
        assert entry["actor"] == f"principal:{world.name}-operator"
        assert entry["target"] == made.order_id
        assert entry["details"] == {
            "hierarchyId": "H-PS1",
            "op": "plan",
            "rollout": "compliance-to-cloud",
        }


@MODULE
async def test_a_refusal_is_kept_with_its_code_message_and_hint(service: RunningService) -> None:
    async with action_world(service) as world:
        made = await world.operator.create_rollout_order(
            "H-PS1", RolloutOrder(op="apply", document=DOCUMENT, plan_hash=PLAN_HASH)
        )
        error = RolloutError(code="plan_changed", message="the plan is now 1234", hint="plan again")
        result = RolloutOrderResult(state="refused", error=error)
        await world.connector().post_rollout_result(made.order_id, result)
        read = await world.operator.rollout_order("H-PS1", made.order_id)
        assert (read.state, read.error, read.result) == ("refused", error, None)
        assert read.plan_hash == PLAN_HASH


@MODULE
async def test_operators_create_viewers_read(service: RunningService) -> None:
    async with action_world(service) as world:
        body = {"op": "pause", "reason": "look at wave 1"}
        status_code, answer = await post_order(service, world, body, role=Role.VIEWER)
        assert (status_code, answer["error"]["code"]) == (403, "forbidden")
        for role in (Role.OPERATOR, Role.ADMIN):
            status_code, answer = await post_order(service, world, body, role=role)
            assert (status_code, answer["state"]) == (202, "queued")
        orders = await world.viewer.list_rollout_orders("H-PS1")
        assert [o.requested_by for o in orders] == [f"{world.name}-admin", f"{world.name}-operator"]
        assert (await world.viewer.rollout("H-PS1")).rollout is None


@MODULE
async def test_idempotency_keys_answer_the_first_order(service: RunningService) -> None:
    async with action_world(service) as world:
        body = {"op": "plan", "document": DOCUMENT}
        key = {"Idempotency-Key": f"plan-{uuid.uuid4().hex}"}
        first_status, first = await post_order(service, world, body, headers=key)
        assert first_status == 202
        # The same order with its document's keys in another order: the same order.
        reordered = {"document": dict(reversed(list(DOCUMENT.items()))), "op": "plan"}
        again_status, again = await post_order(service, world, reordered, headers=key)
        assert (again_status, again["orderId"]) == (202, first["orderId"])
        in_body_status, in_body = await post_order(
            service, world, {**body, "idempotencyKey": key["Idempotency-Key"]}
        )
        assert (in_body_status, in_body["orderId"]) == (202, first["orderId"])

        other = {"op": "abort", "reason": "changed my mind"}
        conflict_status, conflict = await post_order(service, world, other, headers=key)
        assert (conflict_status, conflict["error"]["code"]) == (409, "idempotency_conflict")
        mixed = {**body, "idempotencyKey": "another-key"}
        mixed_status, mixed_answer = await post_order(service, world, mixed, headers=key)
        assert (mixed_status, mixed_answer["error"]["target"]) == (400, "Idempotency-Key")
        bad_status, bad = await post_order(service, world, body, headers={"Idempotency-Key": "a b"})
        assert (bad_status, bad["error"]["target"]) == (400, "Idempotency-Key")
        # Keys are per caller: the admin's same key makes its own order.
        admin_status, admin = await post_order(service, world, body, role=Role.ADMIN, headers=key)
        assert admin_status == 202
        assert admin["orderId"] != first["orderId"]
        orders = await world.viewer.list_rollout_orders("H-PS1")
        assert len(orders) == 2
        # The client retries a keyed create safely and gets the same order back.
        keyed = RolloutOrder(op="pause", idempotency_key="pause-1")
        made = await world.operator.create_rollout_order("H-PS1", keyed)
        assert (await world.operator.create_rollout_order("H-PS1", keyed)).order_id == made.order_id


def problems(answer: dict[str, Any]) -> list[str]:
    """The error's details as 'field: problem' lines."""
    assert answer["error"]["code"] == "invalid_body", answer
    return [f"{d['field']}: {d['problem']}" for d in answer["error"]["details"]]


@MODULE
async def test_bad_orders_are_refused_naming_the_key(service: RunningService) -> None:
    async with action_world(service) as world:
        cases = [
            ({"op": "apply", "document": DOCUMENT}, "planHash (of the reviewed plan) is required"),
            ({"op": "plan"}, "document (the desired state) is required"),
            ({"op": "abort"}, "reason is required for abort and rollback"),
            ({"op": "resume", "reason": "x"}, "reason is only for pause, abort and rollback"),
            ({"op": "pause", "document": DOCUMENT}, "document is only for plan and apply"),
            ({"op": "apply", "document": DOCUMENT, "planHash": "xyz"}, "planHash: String should"),
            ({"op": "launch"}, "op: Input should be 'plan', 'apply'"),
            ({"op": "plan", "document": DOCUMENT, "bogus": 1}, "bogus: Extra inputs"),
        ]
        for body, expected in cases:
            status_code, answer = await post_order(service, world, body)
            assert status_code == 400, (body, answer)
            assert any(expected in p for p in problems(answer)), (body, problems(answer))
        broken = {**DOCUMENT, "rollout": {**DOCUMENT["rollout"], "waves": [{"percent": 120}]}}
        status_code, answer = await post_order(service, world, {"op": "plan", "document": broken})
        [problem] = problems(answer)
        assert problem.startswith("document: ")
        assert "rollout.waves[0].percent (wave 1)" in problem
        assert "rollout.waves[0].soak (wave 1): is required" in problem

        status_code, answer = await post_order(
            service, world, {"op": "resume"}, hierarchy_id="H-NOPE"
        )
        assert (status_code, answer["error"]["code"]) == (404, "not_found")
        assert await world.viewer.list_rollout_orders("H-PS1") == []

        async with service.session(token=world.tokens[Role.ADMIN]).post(
            f"{service.api_url}/api/v1/hierarchies/H-PS1/detach"
        ) as r:
            assert r.status == 200, await r.text()
        status_code, answer = await post_order(service, world, {"op": "resume"})
        assert (status_code, answer["error"]["code"]) == (409, "hierarchy_detached")


@MODULE
async def test_a_connector_sees_and_answers_only_its_own_hierarchy(
    service: RunningService,
) -> None:
    async with action_world(service, TWO) as world:
        first = await world.operator.create_rollout_order(
            "H-PS1", RolloutOrder(op="plan", document=DOCUMENT)
        )
        second = await world.operator.create_rollout_order(
            "H-PS1", RolloutOrder(op="pause", reason="wait")
        )
        theirs = await world.operator.create_rollout_order("H-PS2", RolloutOrder(op="resume"))
        mine = await world.connector("H-PS1").queued_rollout_orders()
        assert [o.order_id for o in mine] == [first.order_id, second.order_id], "oldest first"
        assert [o.order_id for o in await world.connector("H-PS2").queued_rollout_orders()] == [
            theirs.order_id
        ]
        with pytest.raises(CloudApiError) as refused:
            await world.connector("H-PS2").post_rollout_result(
                first.order_id, RolloutOrderResult(state="done", result={})
            )
        assert (refused.value.status, refused.value.code) == (404, "not_found")
        with pytest.raises(CloudApiError) as refused:
            await world.viewer.rollout_order("H-PS2", first.order_id)
        assert refused.value.code == "not_found"
        assert (await world.viewer.rollout_order("H-PS1", first.order_id)).state == "queued"


@MODULE
async def test_status_reports_are_kept_when_they_change(service: RunningService) -> None:
    async with action_world(service, TWO) as world:
        empty = await world.viewer.rollout("H-PS1")
        assert (empty.hierarchy_id, empty.reported_at, empty.rollout) == ("H-PS1", None, None)
        soaking = status()
        ack = await world.connector().report_rollout_status(soaking)
        assert ack.changed
        again = await world.connector().report_rollout_status(soaking)
        assert not again.changed
        held = await world.viewer.rollout("H-PS1")
        assert held.rollout == soaking
        assert held.reported_at == ack.reported_at
        assert held.rollout.gates.on_trip == "pause"
        assert held.rollout.history[0].details == {"stage": 1}

        completed = status("completed", 2)
        assert (await world.connector().report_rollout_status(completed)).changed
        assert (await world.operator.rollout("H-PS1")).rollout == completed
        assert (await world.viewer.rollout("H-PS2")).rollout is None
