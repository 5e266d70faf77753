"""Co-management end to end: a real site store, the tenant service over HTTPS, the arbiter,
and a fleet of simulated devices checking in with both sides all along.

Sliders move back and forth while devices check in; the tenant's side is cut
off in the middle of a handoff; the connector crashes after a side applied
its commands and a new one resumes from the journal. The invariant checker
then replays both sides' logs: zero violations, and every record settled
with its desired holder; the tenant's counts agree with the journal.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.cycle import ArbitrationPass
from bridge.arbiter.sides import CloudSide, SiteSide
from bridge.tenant.checkin import CheckInClient
from installer.demo.simulator import DeviceFleet, authority_log
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_reader import SiteReader
from tests.support.cloud_service import RunningService
from tests.support.comanagement_fleet import FLEET, Crash, Switch, fleet_clients
from tests.support.sync_rig import Rig, attach, close, seeded_site
from workloads.catalog import Holder, Workload
from workloads.handoff import Phase
from workloads.invariant import check
from workloads.settings import Slider, WorkloadSetting


def now() -> datetime:
    """The real clock: both sides' logs are on it."""
    return datetime.now(UTC)


def arbitration(
    rig: Rig, site: EmbeddedSiteAuthority, sides: dict[Holder, Switch]
) -> ArbitrationPass:
    """A pass over the rig's site, state and tenant, through the given side switches."""
    arbiter = Arbiter(rig.state, sides, clock=now)
    return ArbitrationPass(
        SiteReader(rig.site, chunk_size=500), site, arbiter, rig.state, rig.connector, clock=now
    )


@pytest.mark.asyncio
async def test_devices_never_get_one_workload_from_both_sides(
    service: RunningService, tmp_path: Path
) -> None:
    site_engine = seeded_site(tmp_path / "site.db", 400, seed=5)
    rig = await attach(service, site_engine, tmp_path / "connector")
    site = EmbeddedSiteAuthority(site_engine)
    devices: dict[str, CheckInClient] = {}
    try:
        assert (await rig.engine().run_cycle()).outcome == "ok"
        devices = await fleet_clients(rig, service)
        assert len(devices) == FLEET
        sides = {
            Holder.CONFIGMGR: Switch(SiteSide(site, clock=now)),
            Holder.CLOUD: Switch(CloudSide(rig.connector)),
        }

        def move(workload: Workload, slider: Slider, pilot: str | None = None) -> None:
            current = site.read_settings().with_enabled(True)
            chosen = WorkloadSetting(slider=slider, pilot_collection=pilot)
            site.write_settings(
                current.with_workload(workload, chosen), changed_by="test", now=now()
            )

        fleet = DeviceFleet(site, devices, clock=now, mean_interval=0.05)
        stop = asyncio.Event()
        checking_in = asyncio.create_task(fleet.run(stop))
        try:
            move(Workload.COMPLIANCE, Slider.CLOUD)
            move(Workload.DEVICE_CONFIGURATION, Slider.PILOT, "PS100014")
            first = await arbitration(rig, site, sides).run()
            assert first.handoffs.begun > 0
            assert first.handoffs.in_flight == 0
            await asyncio.sleep(0.5)

            # The tenant is cut off mid-handoff: revoked at the site, the grant waits.
            move(Workload.CLIENT_APPS, Slider.CLOUD)
            sides[Holder.CLOUD].cut = True
            stalled = await arbitration(rig, site, sides).run()
            assert Holder.CLOUD in stalled.handoffs.unreachable
            assert stalled.handoffs.in_flight > 0
            await asyncio.sleep(0.5)
            sides[Holder.CLOUD].cut = False

            # The connector dies right after the site applied a batch; a new one resumes.
            move(Workload.COMPLIANCE, Slider.CONFIGMGR)
            sides[Holder.CONFIGMGR].crash_after_apply = True
            with pytest.raises(Crash):
                await arbitration(rig, site, sides).run()
            await asyncio.sleep(0.5)
            resumed = await arbitration(rig, site, sides).run()
            assert resumed.handoffs.in_flight == 0
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            tally = await checking_in
        assert tally.check_ins > FLEET * 10
        assert tally.delivered[Holder.CLOUD] > 0, "the cloud delivered what it held"

        events = await authority_log(site, rig.admin, rig.hierarchy_id)
        violations = check(events)
        assert violations == [], [str(v) for v in violations[:5]]

        # Settled: every record held by its desired holder, and the tenant agrees.
        entries = rig.state.authority.entries(rig.state.authority.journaled_smsids())
        assert entries
        assert {e.record.phase for e in entries.values()} == {Phase.HELD}
        held = {(k, e.record.holder) for k, e in entries.items()}
        assert all(
            holder is Holder.CONFIGMGR
            for (_, workload), holder in held
            if workload is Workload.COMPLIANCE
        ), "compliance went back to the site"
        assert rig.state.authority.unreported(10) == []
        counts = {c.workload: c for c in (await rig.admin.workload_counts()).value}
        cloud_client_apps = sum(
            1
            for (_, workload), holder in held
            if workload is Workload.CLIENT_APPS and holder is Holder.CLOUD
        )
        assert cloud_client_apps > 0
        assert counts[Workload.CLIENT_APPS].counts.cloud == cloud_client_apps
    finally:
        for client in devices.values():
            await client.close()
        await close(rig)
        site_engine.dispose()
