"""The delete guard: the pure decision, and holds released locally or through the tenant API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bridge.runtime.heartbeat import HeartbeatReporter
from bridge.runtime.observability import ConnectorMetrics
from bridge.settings import ConnectorSettings
from bridge.sync.guard import decide_deletes, guard_trips
from tests.support.cloud_service import RunningService
from tests.support.sync_rig import Rig, attach, clock, close, seeded_site


def test_guard_trips_on_count_or_share() -> None:
    assert not guard_trips(0, 0, 500, 10)
    assert not guard_trips(500, 10_000, 500, 10)
    assert guard_trips(501, 100_000, 500, 10)
    assert guard_trips(11, 100, 500, 10)  # 11% of the hierarchy
    assert not guard_trips(10, 100, 500, 10)


def test_incomplete_read_decides_nothing_not_even_discards() -> None:
    decision = decide_deletes(
        [], complete=False, held=["A"], released=["B"], holdings=10, count_limit=5, percent_limit=50
    )
    assert decision.send == decision.hold == decision.discard == decision.returned == []


def test_held_stay_held_new_ones_join_when_tripped_released_go() -> None:
    gone = [f"D{n}" for n in range(8)]
    decision = decide_deletes(
        gone,
        complete=True,
        held=["D0", "D1", "X9"],  # X9 came back
        released=["D2", "Y1"],  # Y1 came back after its release
        holdings=100,
        count_limit=5,
        percent_limit=100,
    )
    assert decision.tripped
    assert decision.would_delete == 7  # D3..D7 new, D0 D1 still held
    assert decision.hold == ["D3", "D4", "D5", "D6", "D7"]
    assert decision.send == decision.applied == ["D2"]
    assert decision.discard == ["X9"]
    assert decision.returned == ["Y1"]


def test_within_the_guard_new_deletes_go_but_held_ones_still_wait() -> None:
    decision = decide_deletes(
        ["D0", "D1", "D2"],
        complete=True,
        held=["D0"],
        released=[],
        holdings=1000,
        count_limit=500,
        percent_limit=10,
    )
    assert not decision.tripped
    assert decision.send == ["D1", "D2"]
    assert decision.hold == []


@pytest_asyncio.fixture
async def rig(service: RunningService, tmp_path: Path) -> AsyncIterator[Rig]:
    site = seeded_site(tmp_path / "site.db", 300, seed=5)
    attached = await attach(service, site, tmp_path / "connector")
    try:
        yield attached
    finally:
        await close(attached)
        site.dispose()


async def _mass_delete(rig: Rig, count: int) -> tuple[set[str], dict[str, list[dict[str, Any]]]]:
    """Sync, then delete `count` devices at the site; their SMSIDs and removed rows."""
    await rig.engine().run_cycle()
    rows = rig.live_rows(count)
    removed = rig.delete_devices([r.ResourceID for r in rows])
    return {r.SMS_Unique_Identifier0.upper() for r in rows}, removed


@pytest.mark.asyncio
async def test_a_mass_delete_is_held_until_released_locally(rig: Rig) -> None:
    gone, _ = await _mass_delete(rig, 60)  # 20% of the hierarchy
    before = await rig.tenant_smsids()
    held = await rig.engine().run_cycle()
    assert held.outcome == "ok"
    assert held.counts["deletes_held"] == 60
    assert held.counts["deletes_sent"] == 0
    assert await rig.tenant_smsids() == before
    assert {h.smsid for h in rig.state.deletes.held()} == gone
    # Later cycles keep holding, and nothing slips through below the limit.
    assert (await rig.engine().run_cycle()).counts["deletes_sent"] == 0

    released = rig.state.deletes.release("local:alice", now=clock())
    assert {r.smsid for r in released} == gone
    applied = await rig.engine().run_cycle()
    assert applied.counts["deletes_sent"] == 60
    assert await rig.tenant_smsids() == rig.expected_smsids() == before - gone
    assert rig.state.deletes.released() == []


@pytest.mark.asyncio
async def test_a_device_back_before_the_cycle_after_release_is_never_deleted(rig: Rig) -> None:
    gone, removed = await _mass_delete(rig, 60)
    await rig.engine().run_cycle()
    rig.state.deletes.release("local:alice", now=clock())
    # One device returns to the site before the next cycle: it must survive.
    back = removed["v_R_System"][0]
    rig.put_back(removed, back["ResourceID"])
    report = await rig.engine().run_cycle()
    assert report.counts["deletes_sent"] == 59
    held = await rig.tenant_smsids()
    assert back["SMS_Unique_Identifier0"].upper() in held
    assert held == rig.expected_smsids()
    assert rig.state.deletes.held() == rig.state.deletes.released() == []
    assert len(gone) == 60


def _settings(rig: Rig, tmp_path: Path) -> ConnectorSettings:
    config = tmp_path / "connector.toml"
    config.write_text(
        f'data_dir = "{rig.data_dir}"\n[site]\ndb = "{tmp_path / "site.db"}"\n'
        f'[cloud]\nconnector_url = "https://127.0.0.1:1"\nca_file = "{tmp_path / "ca.pem"}"\n'
    )
    return ConnectorSettings.load(config)


@pytest.mark.asyncio
async def test_a_release_through_the_tenant_api_reaches_the_connector(
    rig: Rig, tmp_path: Path
) -> None:
    gone, _removed = await _mass_delete(rig, 60)
    await rig.engine().run_cycle()
    reporter = HeartbeatReporter(
        rig.connector,
        rig.state,
        _settings(rig, tmp_path),
        ConnectorMetrics(),
        version="test",
        clock=clock,
    )
    await reporter.beat()
    report = await rig.admin.held_deletes(rig.hierarchy_id)
    [group] = report.value
    assert group.count == 60
    assert {d.smsid for d in group.sample} <= gone

    order = await rig.admin.release_held_deletes(rig.hierarchy_id, group.cycle_id)
    await reporter.beat()  # delivers the order; the connector releases the holds
    assert {r.smsid for r in rig.state.deletes.released()} == gone
    assert all(r.resolved_by.startswith("tenant:") for r in rig.state.deletes.released())
    await reporter.beat()  # reports it applied
    [seen] = await rig.admin.delete_releases(rig.hierarchy_id)
    assert seen.release_id == order.release_id
    assert seen.applied_at is not None

    applied = await rig.engine().run_cycle()
    assert applied.counts["deletes_sent"] == 60
    assert await rig.tenant_smsids() == rig.expected_smsids()
