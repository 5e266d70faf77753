"""Device actions over real HTTPS: catalogue, request, claim, start, result, roles, idempotency.

The tenant side of DESIGN.md section 10, with the connector's calls made by
the real client over mutual TLS. Runs on SQLite and PostgreSQL, one service
per backend for the module. Long polls, expiry and bulk actions are in
tests/cloud/service/test_actions_queue.py and tests/cloud/service/test_actions_bulk.py.
"""

from __future__ import annotations

import asyncio

import pytest

from bridge.tenant.errors import CloudApiError, CloudAuthError
from cloud.contract.action_relay import ActionResult
from cloud.contract.actions import (
    ActionListQuery,
    ActionRequest,
    ActionState,
    RestartAction,
    RunScriptAction,
    ScriptCreate,
    script_digest,
)
from tests.support.action_world import action_world, succeeded, trigger
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service

MODULE = pytest.mark.asyncio(loop_scope="module")
# DOMAIN.md, client actions: each catalogue action's schedule number.
SCHEDULE_NUMBERS = {
    "machinePolicyRetrieval": "021",
    "machinePolicyEvaluation": "022",
    "userPolicyRetrieval": "026",
    "userPolicyEvaluation": "027",
    "appDeploymentEvaluation": "121",
    "hardwareInventory": "001",
    "softwareUpdateScan": "113",
}


service = shared_service  # one service per module and backend


@MODULE
async def test_catalogue_names_the_agents_schedules(service: RunningService) -> None:
    async with action_world(service) as world:
        entries = {e.kind.value: e for e in await world.viewer.action_catalogue()}
    assert set(entries) == {*SCHEDULE_NUMBERS, "runScript", "restart"}
    for kind, number in SCHEDULE_NUMBERS.items():
        assert entries[kind].schedule_id == f"{{00000000-0000-0000-0000-000000000{number}}}"
        assert entries[kind].idempotent
        assert not entries[kind].needs_script
        assert not entries[kind].needs_delay
    assert entries["runScript"].needs_script
    assert not entries["runScript"].idempotent
    assert entries["restart"].needs_delay
    assert entries["restart"].schedule_id is None


@MODULE
async def test_request_claim_start_result_and_read_back(service: RunningService) -> None:
    async with action_world(service) as world:
        device_id = world.devices["WKS00002"]
        made = await world.operator.request_action(trigger(device_id))
        assert made.state is ActionState.QUEUED
        assert (made.device_name, made.hierarchy_id, made.deliveries) == ("WKS00002", "H-PS1", 0)
        assert made.requested_by == f"{world.name}-operator"
        assert made.expires_at > made.requested_at

        claim = await world.connector().claim_actions(limit=10, wait_seconds=0)
        [got] = claim.value
        assert got.action_id == made.action_id
        assert got.schedule_id == "{00000000-0000-0000-0000-000000000021}"
        assert (got.device.name, got.device.fqdn) == ("WKS00002", "WKS00002.corp.example")
        assert (got.device.netbios_name, got.device.domain) == ("WKS00002", "CORP")
        assert got.device.smsid == made.smsid
        assert (got.idempotent, got.script, got.deliveries) == (True, None, 1)
        assert (await world.connector().claim_actions(wait_seconds=0)).value == []
        dispatched = await world.viewer.action(made.action_id)
        assert dispatched.state is ActionState.DISPATCHED
        assert dispatched.dispatched_at is not None

        started = await world.connector().mark_running(made.action_id)
        assert (started.state, started.replayed) == (ActionState.RUNNING, False)
        again = await world.connector().mark_running(made.action_id)
        assert (again.state, again.replayed) == (ActionState.RUNNING, True)

        result = succeeded(made.action_id, output="ReturnValue 0")
        ack = await world.connector().report_action(result)
        assert (ack.state, ack.replayed) == (ActionState.SUCCEEDED, False)
        ack = await world.connector().report_action(result)
        assert (ack.state, ack.replayed) == (ActionState.SUCCEEDED, True)
        other = ActionResult(action_id=made.action_id, state="failed", error_code="timeout")
        with pytest.raises(CloudApiError) as refused:
            await world.connector().report_action(other)
        assert (refused.value.status, refused.value.code) == (409, "action_result_conflict")
        with pytest.raises(CloudApiError) as refused:
            await world.connector().mark_running(made.action_id)
        assert refused.value.code == "action_finished"

        done = await world.viewer.action(made.action_id)
        assert done.state is ActionState.SUCCEEDED
        assert (done.output, done.return_value, done.output_truncated) == (
            "ReturnValue 0",
            0,
            False,
        )
        assert done.started_at is not None
        assert done.completed_at is not None
        assert done.dispatched_at <= done.started_at <= done.completed_at
        page = await world.viewer.list_actions(ActionListQuery(device_id=device_id))
        assert [a.action_id for a in page.value] == [made.action_id]


@MODULE
async def test_a_result_without_start_and_a_failure_with_output(service: RunningService) -> None:
    async with action_world(service) as world:
        made = await world.operator.request_action(trigger(world.devices["WKS00001"]))
        with pytest.raises(CloudApiError) as refused:
            await world.connector().report_action(succeeded(made.action_id))
        assert refused.value.code == "conflict", "a result before any claim is refused"
        await world.connector().claim_actions(wait_seconds=0)
        failure = ActionResult(
            action_id=made.action_id,
            state="failed",
            output="x" * 100,
            output_truncated=True,
            error_code="unreachable",
            error_message="WinRM: connection refused",
        )
        await world.connector().report_action(failure)
        done = await world.admin.action(made.action_id)
    assert done.state is ActionState.FAILED
    assert (done.error_code, done.error_message) == ("unreachable", "WinRM: connection refused")
    assert done.output_truncated
    assert done.output == "x" * 100
    assert done.started_at == done.completed_at, "never marked running: started when it ended"


@MODULE
async def test_the_connector_may_report_an_action_it_never_started_in_time(
    service: RunningService,
) -> None:
    async with action_world(service) as world:
        made = await world.operator.request_action(trigger(world.devices["WKS00003"]))
        await world.connector().claim_actions(wait_seconds=0)
        late = ActionResult(action_id=made.action_id, state="expired", error_code="expired")
        ack = await world.connector().report_action(late)
        assert ack.state is ActionState.EXPIRED
        assert (await world.connector().report_action(late)).replayed
        expired = await world.viewer.action(made.action_id)
        assert (expired.error_code, expired.started_at) == ("expired", None)


@MODULE
async def test_roles(service: RunningService) -> None:
    async with action_world(service) as world:
        request = trigger(world.devices["WKS00001"])
        with pytest.raises(CloudAuthError) as refused:
            await world.viewer.request_action(request)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
        made = await world.admin.request_action(request)
        with pytest.raises(CloudAuthError):
            await world.viewer.cancel_action(made.action_id)
        script = ScriptCreate(name="hello", content="Write-Output 'hello'")
        for client in (world.viewer, world.operator):
            with pytest.raises(CloudAuthError) as refused:
                await client.approve_script(script)
            assert refused.value.code == "forbidden"
        approved = await world.admin.approve_script(script)
        with pytest.raises(CloudAuthError):
            await world.operator.retire_script(approved.script_id)
        assert [s.script_id for s in await world.viewer.list_scripts()] == [approved.script_id]
        assert (await world.viewer.action(made.action_id)).state is ActionState.QUEUED
        assert (await world.operator.cancel_action(made.action_id)).state is ActionState.CANCELLED


@MODULE
async def test_idempotency_keys(service: RunningService) -> None:
    async with action_world(service) as world:
        device_id = world.devices["WKS00003"]
        keyed = trigger(device_id, idempotency_key="run-42")
        first, second = await asyncio.gather(
            world.operator.request_action(keyed), world.operator.request_action(keyed)
        )
        assert first.action_id == second.action_id
        assert (await world.operator.request_action(keyed)).action_id == first.action_id
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_action(
                trigger(device_id, "hardwareInventory", idempotency_key="run-42")
            )
        assert (refused.value.status, refused.value.code) == (409, "idempotency_conflict")
        # Keys are the caller's own: another principal's same key is another action.
        theirs = await world.admin.request_action(keyed)
        assert theirs.action_id != first.action_id
        page = await world.viewer.list_actions(ActionListQuery(device_id=device_id))
        assert sorted(a.action_id for a in page.value) == sorted(
            [first.action_id, theirs.action_id]
        )


@MODULE
async def test_devices_that_cannot_take_an_action(service: RunningService) -> None:
    async with action_world(service) as world:
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_action(trigger(world.devices["MDM-ONLY"]))
        assert (refused.value.status, refused.value.code) == (409, "device_not_actionable")
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_action(trigger("no-such-device"))
        assert (refused.value.status, refused.value.code) == (404, "not_found")
        assert (await world.viewer.list_actions()).value == []


@MODULE
async def test_scripts_are_delivered_as_approved_and_retiring_cancels(
    service: RunningService,
) -> None:
    text = "Get-Service ccmexec | Select-Object Status\n"
    async with action_world(service) as world:
        with pytest.raises(CloudApiError) as refused:
            await world.admin.approve_script(
                ScriptCreate(name="bad", content=text, sha256="0" * 64)
            )
        assert (refused.value.status, refused.value.code) == (400, "script_hash_mismatch")
        script = await world.admin.approve_script(
            ScriptCreate(name="ccmexec", content=text, sha256=script_digest(text))
        )
        assert (script.sha256, script.size, script.content) == (
            script_digest(text),
            len(text.encode()),
            text,
        )
        run = ActionRequest(
            device_id=world.devices["WKS00001"],
            action=RunScriptAction(kind="runScript", script_id=script.script_id),
        )
        first = await world.operator.request_action(run)
        assert first.script_sha256 == script.sha256
        [got] = (await world.connector().claim_actions(wait_seconds=0)).value
        assert got.script is not None
        assert (got.script.content, got.script.sha256) == (text, script_digest(text))
        assert (got.schedule_id, got.idempotent) == (None, False)

        queued = await world.operator.request_action(run)
        retired = await world.admin.retire_script(script.script_id)
        assert retired.retired_at is not None
        assert (await world.admin.retire_script(script.script_id)).retired_at == retired.retired_at
        cancelled = await world.viewer.action(queued.action_id)
        assert (cancelled.state, cancelled.error_code) == (ActionState.CANCELLED, "script_retired")
        # Already with the connector: it runs the approved text.
        assert (await world.viewer.action(first.action_id)).state is ActionState.DISPATCHED
        with pytest.raises(CloudApiError) as refused:
            await world.operator.request_action(run)
        assert refused.value.code == "script_retired"


@MODULE
async def test_cancel_before_and_after_the_connector_took_it(service: RunningService) -> None:
    async with action_world(service) as world:
        device_id = world.devices["WKS00001"]
        restart = ActionRequest(
            device_id=device_id, action=RestartAction(kind="restart", delay_minutes=15)
        )
        queued = await world.operator.request_action(restart)
        await world.operator.cancel_action(queued.action_id)
        assert (await world.connector().claim_actions(wait_seconds=0)).value == []

        dispatched = await world.operator.request_action(restart)
        [got] = (await world.connector().claim_actions(wait_seconds=0)).value
        assert (got.restart_delay_minutes, got.idempotent) == (15, False)
        cancelled = await world.operator.cancel_action(dispatched.action_id)
        assert cancelled.cancelled_by == f"{world.name}-operator"
        with pytest.raises(CloudApiError) as refused:
            await world.connector().mark_running(dispatched.action_id)
        assert (refused.value.status, refused.value.code) == (409, "action_finished")
        with pytest.raises(CloudApiError) as refused:
            await world.connector().report_action(succeeded(dispatched.action_id))
        assert refused.value.code == "action_finished"

        running = await world.operator.request_action(trigger(device_id))
        await world.connector().claim_actions(wait_seconds=0)
        await world.connector().mark_running(running.action_id)
        with pytest.raises(CloudApiError) as refused:
            await world.operator.cancel_action(running.action_id)
        assert (refused.value.status, refused.value.code) == (409, "action_not_cancellable")


@MODULE
async def test_list_filters_and_keyset_pages(service: RunningService) -> None:
    async with action_world(service) as world:
        made = [
            await world.operator.request_action(trigger(world.devices[f"WKS0000{n}"]))
            for n in (1, 2, 3, 1, 2)
        ]
        await world.operator.cancel_action(made[0].action_id)
        seen: list[str] = []
        query = ActionListQuery(top=2)
        while True:
            page = await world.viewer.list_actions(query)
            assert len(page.value) <= 2
            seen += [a.action_id for a in page.value]
            if page.next_link is None:
                break
            token = page.next_link.split("%24skiptoken=")[-1].split("$skiptoken=")[-1]
            query = ActionListQuery(top=2, skiptoken=token)
        assert sorted(seen) == sorted(a.action_id for a in made)
        assert len(seen) == len(set(seen))
        newest_first = await world.viewer.list_actions(ActionListQuery(top=10))
        times = [(a.requested_at, a.action_id) for a in newest_first.value]
        assert times == sorted(times, reverse=True)
        cancelled = await world.viewer.list_actions(ActionListQuery(state=ActionState.CANCELLED))
        assert [a.action_id for a in cancelled.value] == [made[0].action_id]
        by_device = await world.viewer.list_actions(
            ActionListQuery(device_id=world.devices["WKS00002"])
        )
        assert {a.action_id for a in by_device.value} == {made[1].action_id, made[4].action_id}
        with pytest.raises(CloudApiError) as refused:
            await world.viewer.list_actions(ActionListQuery(skiptoken="not-a-token"))
        assert (refused.value.status, refused.value.code) == (400, "invalid_query")
