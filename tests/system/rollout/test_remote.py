"""Rollout orders through the tenant API, run by the connector: a real site, the tenant over HTTPS.

An admin queues orders with the tenant API; the connector's order runner
(`bridge.rollout.remote`) fetches them, runs them with the rollout engine
over the seeded site and posts each outcome: a plan order answers the plan,
an apply order with its hash starts the rollout, a pause order pauses it,
arbitration passes move it, and the tenant's `GET .../rollout` follows it to
completed. An order whose outcome was recorded but not posted is posted
again after a restart, never run twice.
"""

# ruff: noqa: F811 (the `world` fixture of test_rollout_system is the tests' parameter)
from __future__ import annotations

from typing import Any

import pytest

from bridge.rollout import plan_site
from bridge.rollout.remote import RolloutOrders
from bridge.state.sources import SourceCursors
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudUnavailable
from cloud.contract.rollouts import RolloutOrder, RolloutOrderOut, RolloutOrderResult
from onprem.site_reader import SiteReader
from tests.support.rollout_world import STAGED, World, now, run_passes, world  # noqa: F401 (world: a fixture)
from workloads.catalog import Workload
from workloads.rollout import RolloutPhase, parse_desired_state_toml
from workloads.settings import Slider

DOCUMENT = parse_desired_state_toml(STAGED.format(on_trip="pause")).to_dict()


def runner(world: World, client: Any = None) -> RolloutOrders:
    """The connector's order runner over the world's state, site and tenant."""
    return RolloutOrders(
        world.rig.state,
        world.engine,
        SiteReader(world.rig.site, chunk_size=500),
        client or world.rig.connector,
        instance=f"tenant/{world.rig.hierarchy_id}",
        clock=now,
    )


async def order(world: World, **fields: Any) -> RolloutOrderOut:
    """Queue an order for the world's hierarchy as its admin."""
    return await world.rig.admin.create_rollout_order(
        world.rig.hierarchy_id, RolloutOrder.model_validate(fields)
    )


async def outcome(world: World, made: RolloutOrderOut) -> RolloutOrderOut:
    """The order as the tenant holds it now."""
    return await world.rig.admin.rollout_order(world.rig.hierarchy_id, made.order_id)


@pytest.mark.asyncio
async def test_orders_plan_apply_pause_and_the_tenant_follows_to_completed(world: World) -> None:
    remote = runner(world)
    hierarchy_id = world.rig.hierarchy_id
    planned = await order(world, op="plan", document=DOCUMENT)
    report = await remote.run()
    assert (report.ran, report.posted, report.error) == (
        [planned.order_id],
        [planned.order_id],
        None,
    )
    assert not report.status_sent, "no rollout has run: nothing to report"
    planned = await outcome(world, planned)
    assert planned.state == "done"
    assert planned.result is not None
    local = plan_site(
        world.site.read_settings(),
        parse_desired_state_toml(STAGED.format(on_trip="pause")),
        SiteReader(world.rig.site),
    )
    assert planned.result["plan_hash"] == local.plan_hash
    assert planned.result["has_changes"] is True
    assert planned.result["totals"]["moves"] == local.moves
    assert planned.result["activeRollout"] is None

    wrong = await order(world, op="apply", document=DOCUMENT, planHash="0" * 64)
    applied = await order(world, op="apply", document=DOCUMENT, planHash=local.plan_hash)
    again = await order(world, op="apply", document=DOCUMENT, planHash=local.plan_hash)
    paused = await order(world, op="pause", reason="look at wave 1 first")
    report = await remote.run()
    assert report.ran == [wrong.order_id, applied.order_id, again.order_id, paused.order_id]
    assert report.status_sent

    wrong = await outcome(world, wrong)
    assert wrong.state == "refused"
    assert wrong.error is not None
    assert wrong.error.code == "plan_changed"
    assert "not the reviewed" in wrong.error.message
    assert wrong.error.hint
    applied = await outcome(world, applied)
    assert applied.state == "done"
    assert applied.result is not None
    assert (applied.result["phase"], applied.result["planHash"]) == ("applying", local.plan_hash)
    assert applied.result["createdBy"] == f"api:{applied.requested_by}"
    again = await outcome(world, again)
    assert again.error is not None
    assert again.error.code == "rollout_in_progress"
    paused = await outcome(world, paused)
    assert paused.result is not None
    assert (paused.result["phase"], paused.result["reason"]) == ("paused", "look at wave 1 first")
    tenant = await world.rig.admin.rollout(hierarchy_id)
    assert tenant.rollout is not None
    assert (tenant.rollout.phase, tenant.rollout.stage) == ("paused", 1)
    actors = {e.actor for e in world.rig.state.audit.entries() if e.action.startswith("rollout.")}
    assert actors == {f"api:{applied.requested_by}"}

    driver = world.driver()
    for _ in range(2):
        result = await world.arbitration(driver).run()
        assert result.rollout is not None
        assert (result.rollout.phase, result.rollout.stage) == (RolloutPhase.PAUSED, 1)
    await order(world, op="resume")
    await remote.run()
    await run_passes(world, driver, {RolloutPhase.COMPLETED})
    report = await remote.run()
    assert (report.ran, report.status_sent) == ([], True)
    tenant = await world.rig.admin.rollout(hierarchy_id)
    assert tenant.rollout is not None
    assert (tenant.rollout.phase, tenant.rollout.active) == ("completed", False)
    assert [s.status for s in tenant.rollout.stages] == ["done", "done", "done"]
    assert world.site.read_settings().setting(Workload.COMPLIANCE).slider is Slider.CLOUD
    # Nothing changed since: no second report.
    assert not (await remote.run()).status_sent
    # A command after the end is refused by the engine, with its code.
    late = await order(world, op="abort", reason="too late")
    await remote.run()
    late = await outcome(world, late)
    assert late.error is not None
    assert late.error.code == "no_rollout"
    assert await world.violations() == []


class LostAnswers:
    """The connector's client, but the first `lose` results never reach the tenant."""

    def __init__(self, client: ConnectorClient, lose: int) -> None:
        self.client, self.lose = client, lose

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def post_rollout_result(self, order_id: str, result: RolloutOrderResult) -> Any:
        if self.lose:
            self.lose -= 1
            raise CloudUnavailable("post_rollout_result: no answer (the test cut it)", attempts=1)
        return await self.client.post_rollout_result(order_id, result)


@pytest.mark.asyncio
async def test_an_outcome_not_posted_is_posted_after_a_restart_never_run_again(
    world: World,
) -> None:
    document = parse_desired_state_toml(STAGED.format(on_trip="pause"))
    plan = plan_site(world.site.read_settings(), document, SiteReader(world.rig.site))
    applied = await order(world, op="apply", document=DOCUMENT, planHash=plan.plan_hash)
    paused = await order(world, op="pause")
    cut = await runner(world, LostAnswers(world.rig.connector, lose=1)).run()
    assert cut.ran == [applied.order_id]
    assert cut.posted == []
    assert cut.error is not None
    assert "no answer" in cut.error
    assert (await outcome(world, applied)).state == "queued"
    assert (await outcome(world, paused)).state == "queued", "no order runs before the last posts"
    assert world.engine.active() is not None

    # A new connector process: the recorded outcome is posted, the order not run again
    # (which would have been refused: a rollout is active).
    report = await runner(world).run()
    assert report.ran == [paused.order_id]
    assert report.posted == [applied.order_id, paused.order_id]
    applied = await outcome(world, applied)
    assert applied.state == "done"
    assert applied.result is not None
    assert applied.result["phase"] == "applying"
    assert (await outcome(world, paused)).state == "done"
    started = [e for e in world.rig.state.audit.entries() if e.action == "rollout.applied"]
    assert len(started) == 1


class Crash(BaseException):
    """The connector process dies."""


@pytest.mark.asyncio
async def test_an_apply_run_again_before_its_outcome_was_recorded_finds_its_rollout(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = parse_desired_state_toml(STAGED.format(on_trip="pause"))
    plan = plan_site(world.site.read_settings(), document, SiteReader(world.rig.site))
    applied = await order(world, op="apply", document=DOCUMENT, planHash=plan.plan_hash)
    crashing = runner(world)

    def dies(*_args: object, **_kwargs: object) -> None:
        raise Crash  # the process dies after the engine started the rollout

    monkeypatch.setattr(SourceCursors, "save", dies)
    with pytest.raises(Crash):
        await crashing.run()
    monkeypatch.undo()
    assert world.engine.active() is not None
    assert (await outcome(world, applied)).state == "queued"

    # A new connector process runs the order again: it finds the rollout it started.
    report = await runner(world).run()
    assert report.ran == [applied.order_id]
    done = await outcome(world, applied)
    assert done.state == "done", done.error
    assert done.result is not None
    assert done.result["phase"] == "applying"
    started = [e for e in world.rig.state.audit.entries() if e.action == "rollout.applied"]
    assert len(started) == 1
