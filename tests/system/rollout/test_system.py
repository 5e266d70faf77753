"""Rollouts end to end: a real site store, the tenant over HTTPS, the arbiter, checking-in devices.

A reviewed plan is applied and the arbiter moves it stage by stage: after
each pass exactly the admitted devices hold the workload on the cloud, and
at the end the site's slider is the target. A stalled stage trips the gate,
which rolls back: every device returns to its prior holder. A connector that
dies mid-stage resumes from its state. The invariant checker replays both
sides' logs each time: zero violations.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bridge.audit import load_signer, verify_state
from bridge.rollout import PlanChanged, RolloutEngine, plan_site
from bridge.state.rollouts import RolloutActive
from onprem.site_reader import SiteReader
from tests.support.comanagement_fleet import Crash
from tests.support.rollout_world import STAGED, World, now, run_passes, world
from workloads.catalog import Holder, Workload
from workloads.handoff import Phase
from workloads.rollout import Pause, Resume, RolloutPhase, parse_desired_state_toml
from workloads.settings import Slider, WorkloadSetting

__all__ = ["world"]  # the fixture, from the support module


@pytest.mark.asyncio
async def test_a_staged_rollout_moves_exactly_the_admitted_devices(world: World) -> None:
    stop = asyncio.Event()
    checking_in = asyncio.create_task(world.fleet.run(stop))
    try:
        document = parse_desired_state_toml(STAGED.format(on_trip="pause"))
        world.plan_and_apply(document)
        with pytest.raises(RolloutActive):
            world.plan_and_apply(document)
        stages = world.co_managed_by_stage()
        assert set(stages.values()) == {1, 2, 3}, "every stage has devices"
        driver = world.driver()
        seen: list[set[str]] = []
        for _ in range(8):
            report = await world.arbitration(driver).run()
            assert report.rollout is not None
            seen.append(world.cloud_holders(Workload.COMPLIANCE))
            await asyncio.sleep(0.2)
            if report.rollout.phase is RolloutPhase.COMPLETED:
                break
        assert report.rollout.phase is RolloutPhase.COMPLETED
        # Stage by stage: after the first pass exactly wave 1, then waves 1-2, then all.
        expected = [{s for s, k in stages.items() if k <= n} for n in (1, 2, 3)]
        distinct = [held for i, held in enumerate(seen) if i == 0 or held != seen[i - 1]]
        assert distinct == expected
    finally:
        stop.set()
        tally = await checking_in
    assert tally.check_ins > 0
    assert world.site.read_settings().setting(Workload.COMPLIANCE).slider is Slider.CLOUD
    assert world.engine.active() is None
    assert await world.violations() == []
    report = verify_state(world.rig.state, world.rig.data_dir)
    assert report.ok, report.describe()
    actions = [e.action for e in world.rig.state.audit.entries()]
    assert actions[:2] == ["rollout.applied", "rollout.started"]
    assert actions[-1] == "rollout.completed"
    assert actions.count("rollout.stage_applied") == 3


@pytest.mark.asyncio
async def test_a_stalled_stage_trips_the_gate_and_every_device_returns(world: World) -> None:
    before = world.cloud_holders(Workload.COMPLIANCE)
    stop = asyncio.Event()
    checking_in = asyncio.create_task(world.fleet.run(stop))
    try:
        world.plan_and_apply(parse_desired_state_toml(STAGED.format(on_trip="rollback")))
        # The tenant is cut off: wave 1's grants cannot be sent, its handoffs stall.
        world.sides[Holder.CLOUD].cut = True
        driver = world.driver(stalled_after=timedelta(0))
        tripped = await world.arbitration(driver).run()
        assert tripped.rollout is not None
        assert tripped.rollout.phase is RolloutPhase.ROLLING_BACK
        assert "stalled" in (tripped.rollout.reason or "")
        world.sides[Holder.CLOUD].cut = False
        await run_passes(world, driver, {RolloutPhase.ROLLED_BACK})
    finally:
        stop.set()
        await checking_in
    assert world.cloud_holders(Workload.COMPLIANCE) == before
    entries = world.rig.state.authority.entries(world.rig.state.authority.journaled_smsids())
    assert {e.record.phase for e in entries.values()} <= {Phase.HELD}
    assert world.site.read_settings().setting(Workload.COMPLIANCE).slider is Slider.CONFIGMGR
    assert await world.violations() == []
    actions = [e.action for e in world.rig.state.audit.entries()]
    assert "rollout.gate_tripped" in actions
    assert actions[-1] == "rollout.rolled_back"


@pytest.mark.asyncio
async def test_a_connector_dying_mid_stage_resumes_and_completes(world: World) -> None:
    world.plan_and_apply(parse_desired_state_toml(STAGED.format(on_trip="pause")))
    world.sides[Holder.CONFIGMGR].crash_after_apply = True
    with pytest.raises(Crash):
        await world.arbitration(world.driver()).run()
    # A new connector process: a fresh engine and driver over the same state.
    world.engine = RolloutEngine(
        world.rig.state, world.site, lambda: load_signer(world.rig.data_dir), clock=now
    )
    await run_passes(world, world.driver(), {RolloutPhase.COMPLETED})
    assert world.engine.active() is None
    assert world.site.read_settings().setting(Workload.COMPLIANCE).slider is Slider.CLOUD
    assert await world.violations() == []


@pytest.mark.asyncio
async def test_apply_refuses_a_plan_that_changed_and_pause_holds_the_next_stage(
    world: World,
) -> None:
    document = parse_desired_state_toml(STAGED.format(on_trip="pause"))
    reviewed = plan_site(world.site.read_settings(), document, SiteReader(world.rig.site))
    # Another slider changes at the site after the review: the plan is not the same.
    changed = world.site.read_settings().with_workload(
        Workload.CLIENT_APPS, WorkloadSetting(slider=Slider.CLOUD)
    )
    world.site.write_settings(changed, changed_by="test", now=now())
    fresh = plan_site(world.site.read_settings(), document, SiteReader(world.rig.site))
    with pytest.raises(PlanChanged, match="not the reviewed"):
        world.engine.apply(document, fresh, reviewed=reviewed.plan_hash, by="cli:ops")
    assert world.rig.state.rollouts.active() is None

    world.engine.apply(document, fresh, reviewed=fresh.plan_hash, by="cli:ops")
    world.engine.command(Pause(now(), "cli:ops", "looking at wave 1"), by="cli:ops")
    driver = world.driver()
    for _ in range(3):
        report = await world.arbitration(driver).run()
        assert report.rollout is not None
        assert report.rollout.phase is RolloutPhase.PAUSED
        assert report.rollout.stage == 1
    wave_one = world.cloud_holders(Workload.COMPLIANCE)
    stages = world.co_managed_by_stage()
    assert {s for s in wave_one if s in stages} == {s for s, k in stages.items() if k == 1}
    world.engine.command(Resume(now(), "cli:ops"), by="cli:ops")
    await run_passes(world, driver, {RolloutPhase.COMPLETED})
    assert set(stages) <= world.cloud_holders(Workload.COMPLIANCE)
