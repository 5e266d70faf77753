"""The action queue over real HTTPS: long polls, own hierarchy only, expiry, redelivery, races.

A claim with a wait must answer as soon as an action is queued: woken in
the same worker, or found by its periodic look when another worker (a
second service over the same store) queued it. The deadlines below bound
those answers well inside the claim's own wait, so a claim that slept its
whole wait fails the test. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bridge.tenant.errors import CloudApiError
from cloud.contract.actions import ActionState
from cloud.contract.admin import Role
from cloud.service.action_signals import ActionSignals
from cloud.service.state import utc_now
from tests.support.action_world import action_world, succeeded, trigger
from tests.support.cloud_service import RunningService, start_service
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client

MODULE = pytest.mark.asyncio(loop_scope="module")
LONG_WAIT = 50  # seconds a claim may wait; each test below expects its answer long before
DEADLINE = 30


service = shared_service  # one service per module and backend


@pytest.mark.asyncio
async def test_a_notification_wakes_a_waiting_look_at_once() -> None:
    signals = ActionSignals()
    found: list[str] = []
    looks = 0

    async def look() -> list[str]:
        nonlocal looks
        looks += 1
        return list(found)

    waiting = asyncio.create_task(signals.wait_for(("t", "H1"), look, 3600, recheck=3600))
    while looks == 0:
        await asyncio.sleep(0)
    signals.notify(("t", "H2"))  # another hierarchy's action wakes nobody here
    found.append("a1")
    signals.notify(("t", "H1"))
    assert await asyncio.wait_for(waiting, DEADLINE) == ["a1"]
    assert looks == 2
    assert await signals.wait_for(("t", "H1"), look, 0) == ["a1"]
    found.clear()
    assert await signals.wait_for(("t", "H1"), look, 0.05, recheck=0.01) == []


@MODULE
async def test_a_long_poll_answers_when_an_action_is_queued(service: RunningService) -> None:
    async with action_world(service) as world:
        empty = await world.connector().claim_actions(wait_seconds=1)
        assert empty.value == []
        polling = asyncio.create_task(world.connector().claim_actions(wait_seconds=LONG_WAIT))
        made = await world.operator.request_action(trigger(world.devices["WKS00001"]))
        claim = await asyncio.wait_for(polling, DEADLINE)
        assert [a.action_id for a in claim.value] == [made.action_id]


@MODULE
async def test_a_poll_whose_connector_went_away_claims_nothing(service: RunningService) -> None:
    async with action_world(service) as world:
        orphan = asyncio.create_task(world.connector().claim_actions(wait_seconds=LONG_WAIT))
        await asyncio.sleep(0.5)  # the poll reaches the service and waits there
        orphan.cancel()  # the connector dies: its connection closes, its poll waits on
        await asyncio.gather(orphan, return_exceptions=True)
        await asyncio.sleep(0.2)  # the service sees the connection close
        made = await world.operator.request_action(trigger(world.devices["WKS00001"]))
        # The orphaned poll is woken by the queued action but hands it to nobody.
        claim = await world.connector().claim_actions(wait_seconds=0)
        assert [a.action_id for a in claim.value] == [made.action_id]


@MODULE
async def test_a_long_poll_finds_what_another_worker_queued(service: RunningService) -> None:
    async with action_world(service) as world:
        data_dir = service.state.settings.data_dir
        url = service.state.engine.url
        store = (url.set(drivername=url.get_backend_name()), url)
        other = start_service(store, data_dir)
        second = await anext(other)
        try:
            token = await second.token_for(world.tenant_id, f"{world.name}-op2", Role.OPERATOR)
            polling = asyncio.create_task(world.connector().claim_actions(wait_seconds=LONG_WAIT))
            async with admin_client(second, token) as operator:
                made = await operator.request_action(trigger(world.devices["WKS00002"]))
            claim = await asyncio.wait_for(polling, DEADLINE)
            assert [a.action_id for a in claim.value] == [made.action_id]
        finally:
            await other.aclose()


@MODULE
async def test_a_connector_sees_only_its_own_hierarchys_actions(service: RunningService) -> None:
    async with action_world(service, {"H-PS1": [1, 2], "H-PS2": [11, 12]}) as world:
        made = await world.operator.request_action(trigger(world.devices["WKS00011"]))
        assert made.hierarchy_id == "H-PS2"
        ps1, ps2 = world.connector("H-PS1"), world.connector("H-PS2")
        assert (await ps1.claim_actions(wait_seconds=0)).value == []
        for call in (
            ps1.mark_running(made.action_id),
            ps1.report_action(succeeded(made.action_id)),
        ):
            with pytest.raises(CloudApiError) as refused:
                await call
            assert (refused.value.status, refused.value.code) == (404, "not_found")
        [got] = (await ps2.claim_actions(wait_seconds=0)).value
        assert got.device.name == "WKS00011"
        await ps2.report_action(succeeded(got.action_id))
        assert (await world.viewer.action(made.action_id)).state is ActionState.SUCCEEDED


@MODULE
async def test_concurrent_claims_never_hand_out_an_action_twice(service: RunningService) -> None:
    async with action_world(service, {"H-PS1": list(range(1, 21))}) as world:
        made = {
            (await world.operator.request_action(trigger(device_id))).action_id
            for name, device_id in world.devices.items()
            if name != "MDM-ONLY"
        }
        assert len(made) == 20
        claims = await asyncio.gather(
            *(world.connector().claim_actions(limit=7, wait_seconds=0) for _ in range(4))
        )
        handed = [a.action_id for claim in claims for a in claim.value]
        assert sorted(handed) == sorted(made), "every action once, none twice"
        assert all(a.deliveries == 1 for claim in claims for a in claim.value)


@MODULE
async def test_expiry_and_redelivery_after_the_lease(service: RunningService) -> None:
    async with action_world(service) as world:
        connector = world.connector()
        stale = await world.operator.request_action(
            trigger(world.devices["WKS00001"], expires_in_minutes=1)
        )
        lost = await world.operator.request_action(
            trigger(world.devices["WKS00002"], expires_in_minutes=30)
        )
        try:
            service.clock.offset_now = utc_now() + timedelta(minutes=2)
            [got] = (await connector.claim_actions(wait_seconds=0)).value
            assert (got.action_id, got.deliveries) == (lost.action_id, 1)
            expired = await world.viewer.action(stale.action_id)
            assert (expired.state, expired.error_code) == (ActionState.EXPIRED, "expired")
            assert expired.completed_at is not None
            with pytest.raises(CloudApiError) as refused:
                await connector.report_action(succeeded(stale.action_id))
            assert refused.value.code == "action_finished"

            # Claimed but never started: offered again once the lease lapsed.
            service.clock.offset_now = utc_now() + timedelta(minutes=13)
            [again] = (await connector.claim_actions(wait_seconds=0)).value
            assert (again.action_id, again.deliveries) == (lost.action_id, 2)
            # Past its expiry and its lease again, still never started: it expires.
            service.clock.offset_now = utc_now() + timedelta(minutes=40)
            assert (await connector.claim_actions(wait_seconds=0)).value == []
            assert (await world.viewer.action(lost.action_id)).state is ActionState.EXPIRED
        finally:
            service.clock.offset_now = None


@MODULE
async def test_a_running_action_neither_expires_nor_is_offered_again(
    service: RunningService,
) -> None:
    async with action_world(service) as world:
        connector = world.connector()
        made = await world.operator.request_action(
            trigger(world.devices["WKS00003"], expires_in_minutes=1)
        )
        await connector.claim_actions(wait_seconds=0)
        await connector.mark_running(made.action_id)
        try:
            service.clock.offset_now = utc_now() + timedelta(hours=2)
            assert (await connector.claim_actions(wait_seconds=0)).value == []
            assert (await world.viewer.action(made.action_id)).state is ActionState.RUNNING
            ack = await connector.report_action(succeeded(made.action_id))
            assert ack.state is ActionState.SUCCEEDED
        finally:
            service.clock.offset_now = None
