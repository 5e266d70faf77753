"""A release of held deletes ordered through the tenant API is audited by the connector.

Real HTTPS between the connector's heartbeat and the cloud service; the
release and its audit entry commit together, and an order delivered again
releases nothing and records nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bridge.audit import read_chain, verify_state
from bridge.audit.events import RELEASE_SAMPLE
from bridge.runtime.heartbeat import HeartbeatReporter
from bridge.runtime.observability import ConnectorMetrics
from bridge.settings import ConnectorSettings
from tests.support.cloud_service import RunningService
from tests.support.sync_rig import Rig, attach, clock, close, seeded_site

HELD = 60  # 20% of the site: the guard holds them


@pytest_asyncio.fixture
async def rig(service: RunningService, tmp_path: Path) -> AsyncIterator[Rig]:
    """A 300-device site attached to a fresh tenant."""
    site = seeded_site(tmp_path / "site.db", 300, seed=7)
    attached = await attach(service, site, tmp_path / "connector")
    try:
        yield attached
    finally:
        await close(attached)
        site.dispose()


def reporter_for(rig: Rig, tmp_path: Path) -> HeartbeatReporter:
    """The connector's heartbeat over the rig's client, with the rig's data directory."""
    config = tmp_path / "connector.toml"
    config.write_text(
        f'data_dir = "{rig.data_dir}"\n[site]\ndb = "{tmp_path / "site.db"}"\n'
        f'[cloud]\nconnector_url = "https://127.0.0.1:1"\nca_file = "{tmp_path / "ca.pem"}"\n'
    )
    return HeartbeatReporter(
        rig.connector,
        rig.state,
        ConnectorSettings.load(config),
        ConnectorMetrics(),
        version="test",
        clock=clock,
    )


@pytest.mark.asyncio
async def test_a_tenant_ordered_release_leaves_one_signed_entry(rig: Rig, tmp_path: Path) -> None:
    await rig.engine().run_cycle()
    rows = rig.live_rows(HELD)
    rig.delete_devices([r.ResourceID for r in rows])
    assert (await rig.engine().run_cycle()).counts["deletes_held"] == HELD
    reporter = reporter_for(rig, tmp_path)
    await reporter.beat()  # reports the held deletes
    [group] = (await rig.admin.held_deletes(rig.hierarchy_id)).value
    order = await rig.admin.release_held_deletes(rig.hierarchy_id, group.cycle_id)
    assert rig.state.audit.head() is None

    await reporter.beat()  # delivers the order: released and audited together
    entries, _ = read_chain(rig.state)
    [entry] = entries
    assert (entry.actor, entry.action, entry.target) == (
        f"tenant:{order.requested_by}",
        "deletes.release",
        group.cycle_id,
    )
    assert entry.details["count"] == HELD
    assert entry.details["cycles"] == {group.cycle_id: HELD}
    assert entry.details["order_id"] == str(order.release_id)
    sample = entry.details["sample"]
    assert len(sample) == RELEASE_SAMPLE < HELD  # the held-delete rows keep every SMSID
    assert set(sample) <= {r.smsid for r in rig.state.deletes.released()}

    await reporter.beat()  # reports it applied; nothing more is released or recorded
    assert len(read_chain(rig.state)[0]) == 1
    report = verify_state(rig.state, rig.data_dir)
    assert report.ok, report.describe()
