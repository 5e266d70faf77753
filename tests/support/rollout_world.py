"""The rollout system world: a site, a connector and the service, and the passes that drive a rollout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio

from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.cycle import ArbitrationPass, ArbitrationReport
from bridge.arbiter.desired import device_facts
from bridge.arbiter.sides import CloudSide, SiteSide
from bridge.audit import load_signer
from bridge.rollout import RolloutDriver, RolloutEngine, plan_site
from installer.demo.simulator import DeviceFleet, authority_log
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_reader import SiteReader
from onprem.site_records import SiteDevice
from tests.support.cloud_service import RunningService
from tests.support.comanagement_fleet import Switch, fleet_clients
from tests.support.sync_rig import Rig, attach, close, seeded_site
from workloads.authority import is_co_managed
from workloads.catalog import Holder, Workload
from workloads.handoff import Phase
from workloads.invariant import check
from workloads.rollout import DesiredState, RolloutPhase

STAGED = """
version = 1
[workloads.compliance]
slider = "cloud"
[rollout]
name = "compliance-to-cloud"
[[rollout.waves]]
percent = 20
soak = 0
[[rollout.waves]]
percent = 60
soak = 0
[rollout.gates]
max_stalled_percent = 5
on_trip = "{on_trip}"
"""


def now() -> datetime:
    """The real clock: both sides' logs are on it."""
    return datetime.now(UTC)


@dataclass
class World:
    """A seeded site attached to a tenant, its co-management side, and checking-in devices."""

    rig: Rig
    site: EmbeddedSiteAuthority
    sides: dict[Holder, Switch]
    engine: RolloutEngine
    fleet: DeviceFleet

    def driver(self, stalled_after: timedelta = timedelta(minutes=10)) -> RolloutDriver:
        return RolloutDriver(self.engine, stalled_after=stalled_after)

    def arbitration(self, driver: RolloutDriver) -> ArbitrationPass:
        arbiter = Arbiter(self.rig.state, self.sides, clock=now)
        reader = SiteReader(self.rig.site, chunk_size=500)
        return ArbitrationPass(
            reader,
            self.site,
            arbiter,
            self.rig.state,
            self.rig.connector,
            clock=now,
            rollouts=driver,
        )

    def plan_and_apply(self, document: DesiredState) -> str:
        plan = plan_site(self.site.read_settings(), document, SiteReader(self.rig.site))
        assert plan.has_changes
        return self.engine.apply(document, plan, reviewed=plan.plan_hash, by="cli:ops").rollout_id

    def cloud_holders(self, workload: Workload) -> set[str]:
        entries = self.rig.state.authority.entries(self.rig.state.authority.journaled_smsids())
        return {
            smsid
            for (smsid, w), e in entries.items()
            if w is workload and e.record.phase is Phase.HELD and e.record.holder is Holder.CLOUD
        }

    def co_managed_by_stage(self) -> dict[str, int]:
        """Each co-managed device's stage under the active rollout."""
        active = self.engine.active()
        assert active is not None
        stages = {}
        for record in SiteReader(self.rig.site).read():
            if not isinstance(record, SiteDevice) or record.obsolete or record.decommissioned:
                continue
            facts = device_facts(record)
            if is_co_managed(facts):
                stages[record.smsid] = active.overlay.stage_of(record.smsid, facts)
        return stages

    async def violations(self) -> list[str]:
        events = await authority_log(self.site, self.rig.admin, self.rig.hierarchy_id)
        return [str(v) for v in check(events)]


@pytest_asyncio.fixture
async def world(service: RunningService, tmp_path: Path) -> AsyncIterator[World]:
    site_engine = seeded_site(tmp_path / "site.db", 400, seed=5)
    rig = await attach(service, site_engine, tmp_path / "connector")
    site = EmbeddedSiteAuthority(site_engine)
    site.write_settings(site.read_settings().with_enabled(True), changed_by="test", now=now())
    devices = {}
    try:
        assert (await rig.engine().run_cycle()).outcome == "ok"
        devices = await fleet_clients(rig, service)
        sides = {
            Holder.CONFIGMGR: Switch(SiteSide(site, clock=now)),
            Holder.CLOUD: Switch(CloudSide(rig.connector)),
        }
        engine = RolloutEngine(rig.state, site, lambda: load_signer(rig.data_dir), clock=now)
        fleet = DeviceFleet(site, devices, clock=now, mean_interval=0.05)
        yield World(rig, site, sides, engine, fleet)
    finally:
        for client in devices.values():
            await client.close()
        await close(rig)
        site_engine.dispose()


async def run_passes(
    world: World, driver: RolloutDriver, until: set[RolloutPhase]
) -> list[ArbitrationReport]:
    """Arbitration passes until the rollout reaches one of `until` (at most 10)."""
    reports = []
    for _ in range(10):
        report = await world.arbitration(driver).run()
        reports.append(report)
        await asyncio.sleep(0.2)  # devices check in between passes
        if report.rollout is not None and report.rollout.phase in until:
            return reports
    raise AssertionError(f"the rollout did not reach {until}: {[r.rollout for r in reports]}")
