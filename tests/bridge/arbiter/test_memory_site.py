"""The arbitration pass against a second site adapter: the in-memory site of `tests.support.memory_site`.

The pass takes the site through the protocols of `onprem.site_authority`
and the inventory through `bridge.sync.ports.InventoryReader`; here neither
is the embedded site's. Settings move a workload to the cloud, the pass
hands it over break before make, the site publishes the new flags, and a
device that keeps reporting the site's side is drift once the grace is over.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.cycle import DRIFT, ArbitrationPass
from bridge.arbiter.ports import InMemorySide
from bridge.arbiter.sides import SiteSide
from bridge.state import ConnectorState
from onprem.site_authority import SiteAuthority
from tests.support.memory_site import MemoryInventory, MemorySiteAuthority, co_managed_device
from tests.support.port_conformance import unmet
from workloads import flags as co_flags
from workloads.catalog import Holder, Workload
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting

COMPLIANCE = Workload.COMPLIANCE
TO_CLOUD = CoManagementSettings(enabled=True).with_workload(
    COMPLIANCE, WorkloadSetting(slider=Slider.CLOUD)
)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ConnectorState]:
    """A migrated connector state store (SQLite)."""
    with ConnectorState.open(None, data_dir=tmp_path) as opened:
        yield opened


def test_the_memory_site_implements_the_whole_port() -> None:
    assert unmet(SiteAuthority, MemorySiteAuthority()) == []


@pytest.mark.asyncio
async def test_a_pass_hands_a_workload_to_the_cloud_at_a_memory_site(
    state: ConnectorState,
) -> None:
    clock = Clock()
    site = MemorySiteAuthority(TO_CLOUD)
    devices = [co_managed_device(n) for n in (1, 2, 3)]
    smsids = [d.smsid for d in devices]
    inventory = MemoryInventory([*devices, co_managed_device(4, Client0=0)])
    cloud = InMemorySide(Holder.CLOUD)
    sides = {Holder.CONFIGMGR: SiteSide(site, clock=clock), Holder.CLOUD: cloud}
    arbitration = ArbitrationPass(
        inventory, site, Arbiter(state, sides, clock=clock), state, None, clock=clock
    )

    report = await arbitration.run()

    assert (report.devices, report.co_managed, report.desired_on_cloud) == (4, 3, 3)
    assert report.complete
    assert (report.handoffs.begun, report.handoffs.settled) == (3, 3)
    grants = site.grants(smsids)
    for smsid in smsids:
        assert not grants[(smsid, COMPLIANCE)].holds
        assert cloud.gate.holds(smsid, COMPLIANCE)
        assert grants[(smsid, Workload.CLIENT_APPS)].holds
    assert site.published_flags(smsids) == dict.fromkeys(smsids, co_flags.encode([COMPLIANCE]))
    assert set(site.deliver(smsids[0], clock())) == set(Workload) - {COMPLIANCE}

    # The first device still reports the site's side: drift only after the grace.
    site.reported[smsids[0]] = co_flags.encode([])
    assert (await arbitration.run()).drift == 0
    clock.now += timedelta(hours=3)
    later = await arbitration.run()
    assert later.drift == 1
    entry = state.authority.entries([smsids[0]])[(smsids[0], COMPLIANCE)]
    assert (entry.conflict or "").startswith(DRIFT)
    site.reported[smsids[0]] = co_flags.encode([COMPLIANCE])
    assert (await arbitration.run()).drift == 0
    assert state.authority.entries([smsids[0]])[(smsids[0], COMPLIANCE)].conflict is None
