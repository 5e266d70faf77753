"""Bulk actions over real HTTPS: preview, the cap, the confirmation, collections, idempotency.

A bulk request acts only on the devices its caller was shown: the count or
the preview's token must still hold, and a selection matching more than the
cap is refused. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from bridge.tenant.errors import CloudApiError
from cloud.contract.action_bulk import BulkActionRequest, BulkSelection, DeviceFilter
from cloud.contract.actions import (
    ActionListQuery,
    ActionState,
    RunScriptAction,
    ScriptCreate,
    TriggerAction,
)
from cloud.contract.admin import Role
from tests.support.action_world import action_world, numbered
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.store_records import batch, record

MODULE = pytest.mark.asyncio(loop_scope="module")
INVENTORY = TriggerAction(kind="hardwareInventory")


service = shared_service  # one service per module and backend


def every(**filters: object) -> BulkSelection:
    """Hardware inventory on the devices matching `filters`."""
    return BulkSelection(filter=DeviceFilter.model_validate(filters), action=INVENTORY)


def confirmed(selection: BulkSelection, **confirmation: object) -> BulkActionRequest:
    """The bulk request of `selection` with a confirmation."""
    return BulkActionRequest.model_validate({**selection.model_dump(), **confirmation})


@MODULE
async def test_preview_then_confirm_by_count(service: RunningService) -> None:
    async with action_world(service, {"H-PS1": [1, 2, 3, 4, 5]}) as world:
        selection = every()
        preview = await world.operator.preview_bulk_action(selection)
        assert (preview.matched, preview.targets, preview.skipped) == (6, 5, 1)
        assert preview.within_cap
        assert preview.cap == 1000
        assert [s.device_name for s in preview.sample] == [f"WKS0000{n}" for n in range(1, 6)]
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_bulk_action(confirmed(selection, expected_count=6))
        assert (refused.value.status, refused.value.code) == (409, "bulk_confirmation_mismatch")
        assert (await world.viewer.list_actions()).value == [], "a refusal queues nothing"

        created = await world.operator.request_bulk_action(confirmed(selection, expected_count=5))
        assert created.count == len(created.action_ids) == 5
        listed = await world.viewer.list_actions(ActionListQuery(bulk_id=created.bulk_id))
        assert sorted(a.action_id for a in listed.value) == sorted(created.action_ids)
        assert {a.kind.value for a in listed.value} == {"hardwareInventory"}
        assert {a.state for a in listed.value} == {ActionState.QUEUED}
        claim = await world.connector().claim_actions(limit=50, wait_seconds=0)
        assert sorted(a.action_id for a in claim.value) == sorted(created.action_ids)
        assert {a.schedule_id for a in claim.value} == {"{00000000-0000-0000-0000-000000000001}"}


@MODULE
async def test_the_token_binds_the_exact_set(service: RunningService) -> None:
    async with action_world(service) as world:
        selection = every(nameStartsWith="WKS")
        preview = await world.operator.preview_bulk_action(selection)
        assert preview.targets == 3
        assert preview.confirm_token is not None
        # A device joins the set after the preview: the token no longer confirms it.
        await world.connector().ingest(batch("H-PS1", 2, numbered("H-PS1", [4])))
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_bulk_action(
                confirmed(selection, confirm_token=preview.confirm_token)
            )
        assert (refused.value.status, refused.value.code) == (409, "bulk_confirmation_mismatch")
        again = await world.operator.preview_bulk_action(selection)
        assert again.targets == 4
        assert again.confirm_token != preview.confirm_token
        created = await world.operator.request_bulk_action(
            confirmed(selection, confirm_token=again.confirm_token, expected_count=4)
        )
        assert created.count == 4
        # Another action on the same devices is another confirmation.
        other = BulkSelection(
            filter=DeviceFilter(name_starts_with="WKS"),
            action=TriggerAction(kind="softwareUpdateScan"),
        )
        assert (await world.operator.preview_bulk_action(other)).confirm_token != (
            again.confirm_token
        )


@MODULE
async def test_the_cap(service: RunningService) -> None:
    async with action_world(service, {"H-PS1": [1, 2, 3, 4]}) as world:
        selection = BulkSelection(
            filter=DeviceFilter(site_code="PS1"), action=INVENTORY, max_devices=3
        )
        preview = await world.operator.preview_bulk_action(selection)
        assert (preview.matched, preview.cap, preview.within_cap) == (4, 3, False)
        assert (preview.targets, preview.confirm_token) == (0, None)
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_bulk_action(confirmed(selection, expected_count=3))
        assert (refused.value.status, refused.value.code) == (409, "bulk_cap_exceeded")
        assert (await world.viewer.list_actions()).value == []
        fits = BulkSelection(filter=DeviceFilter(site_code="PS1"), action=INVENTORY, max_devices=4)
        created = await world.operator.request_bulk_action(confirmed(fits, expected_count=4))
        assert created.count == 4


@MODULE
async def test_a_collection_and_a_filter_together(service: RunningService) -> None:
    async with action_world(service) as world:
        records = [
            record(n, collections=["SMS00001", "PS100010"], os_build=build)
            for n, build in ((21, "10.0.22631"), (22, "10.0.19045"), (23, "10.0.22631"))
        ]
        await world.connector().ingest(batch("H-PS1", 2, records))
        in_collection = BulkSelection(collection_id="PS100010", action=INVENTORY)
        assert (await world.operator.preview_bulk_action(in_collection)).targets == 3
        both = BulkSelection(
            collection_id="ps100010", filter=DeviceFilter(os_build=22631), action=INVENTORY
        )
        preview = await world.operator.preview_bulk_action(both)
        assert [s.device_name for s in preview.sample] == ["WKS00021", "WKS00023"]
        created = await world.operator.request_bulk_action(confirmed(both, expected_count=2))
        assert created.count == 2


@MODULE
async def test_bulk_idempotency_and_bad_requests(service: RunningService) -> None:
    async with action_world(service) as world:
        request = confirmed(every(), expected_count=3, idempotency_key="nightly-inventory")
        first = await world.operator.request_bulk_action(request)
        again = await world.operator.request_bulk_action(request)
        assert (again.bulk_id, again.action_ids) == (first.bulk_id, first.action_ids)
        assert len((await world.viewer.list_actions()).value) == 3
        changed = confirmed(
            every(nameContains="1"), expected_count=1, idempotency_key="nightly-inventory"
        )
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_bulk_action(changed)
        assert refused.value.code == "idempotency_conflict"

        session = service.session(token=world.tokens[Role.OPERATOR])
        url = f"{service.api_url}/api/v1/bulkActions"
        action = {"kind": "hardwareInventory"}
        for body, problem in (
            ({"action": action, "expectedCount": 1}, "a filter, a collectionId"),
            ({"filter": {}, "action": action}, "expectedCount"),
            (
                {
                    "filter": {"collectionId": "SMS00001"},
                    "collectionId": "PS100010",
                    "action": action,
                    "expectedCount": 0,
                },
                "different collections",
            ),
            ({"filter": {"osBuild": -1}, "action": action, "expectedCount": 0}, "osBuild"),
        ):
            async with session.post(url, json=body) as r:
                answer = await r.json()
            assert (r.status, answer["error"]["code"]) == (400, "invalid_body"), answer
            assert problem in str(answer["error"]), answer


@MODULE
async def test_a_bulk_script_needs_a_live_script(service: RunningService) -> None:
    async with action_world(service) as world:
        script = await world.admin.approve_script(ScriptCreate(name="s", content="hostname"))
        run = RunScriptAction(kind="runScript", script_id=script.script_id)
        selection = BulkSelection(filter=DeviceFilter(), action=run)
        created = await world.operator.request_bulk_action(confirmed(selection, expected_count=3))
        [first] = (await world.connector().claim_actions(limit=1, wait_seconds=0)).value
        assert first.script is not None
        assert first.script.content == "hostname"
        assert first.action_id in created.action_ids
        await world.admin.retire_script(script.script_id)
        states = {a.state for a in (await world.viewer.list_actions()).value}
        assert states == {ActionState.DISPATCHED, ActionState.CANCELLED}
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_bulk_action(confirmed(selection, expected_count=3))
        assert refused.value.code == "script_retired"
