"""`CloudActionSource` against the real cloud service over HTTPS, on SQLite and PostgreSQL.

The connector's side of the action queue as the relay sees it: every
catalogue kind claimed and mapped, a cancelled action not started, results
reported idempotently, a tenant that already settled an action taken as an
acknowledgement. The last test runs the whole relay (real connector state,
the real WinRM adapter against the `responses` WS-Management mock) through
the service and reads the result back as an operator would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.actions import ActionRelay, ActionResult
from bridge.actions.cloud_source import CloudActionSource, device_host, to_wire
from bridge.state import ConnectorState
from bridge.tenant.errors import CloudApiError
from cloud.contract import action_relay as wire
from cloud.contract.actions import (
    SCHEDULES,
    ActionKind,
    ActionRequest,
    ActionState,
    RestartAction,
    RunScriptAction,
    ScriptCreate,
    TriggerAction,
)
from tests.support.action_relay_rig import PASSWORD, USER, fast, winrm_client
from tests.support.action_world import ActionWorld, action_world, trigger
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.winrm_responder import CommandReply, WinRMResponder

MODULE = pytest.mark.asyncio(loop_scope="module")
SCRIPT = "Get-Service CcmExec | Select-Object -ExpandProperty Status"


service = shared_service  # one service per module and backend


def result(action_id: str, **values: object) -> ActionResult:
    """A relay result with fixed times."""
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    fields: dict[str, object] = {"state": "succeeded", "started_at": at, "finished_at": at}
    return ActionResult(action_id=action_id, **(fields | values))  # type: ignore[arg-type]


async def queue_script(world: ActionWorld, device: str) -> str:
    """An approved script queued on a device; the action's id."""
    approved = await world.admin.approve_script(ScriptCreate(name="ccmexec", content=SCRIPT))
    made = await world.operator.request_action(
        ActionRequest(
            device_id=world.devices[device],
            action=RunScriptAction(kind="runScript", script_id=approved.script_id),
        )
    )
    return made.action_id


def test_the_host_is_the_fqdn_else_the_name_in_its_dns_domain() -> None:
    def target(**names: str | None) -> wire.ActionTarget:
        values = {"device_id": "d", "smsid": "GUID:1", "resource_id": 1, "name": "WKS1"}
        return wire.ActionTarget(
            **(values | {"fqdn": None, "netbios_name": None, "domain": None} | names)
        )

    assert device_host(target(fqdn="wks1.corp.example", domain="corp.example")) == (
        "wks1.corp.example"
    )
    assert device_host(target(domain="corp.example")) == "WKS1.corp.example"
    assert device_host(target(domain="CORP")) == "WKS1"  # a NetBIOS domain is no DNS suffix
    assert device_host(target()) == "WKS1"


def test_a_result_loses_the_relay_s_own_fields_and_keeps_its_outcome() -> None:
    sent = to_wire(
        result(
            "a" * 8 + "-0000-4000-8000-" + "0" * 12,
            state="failed",
            exit_code=3,
            output="x" * 40_000,
            error_code="command_failed",
            message="m" * 3000,
            attempts=2,
        )
    )
    body = sent.wire()
    assert body["state"] == "failed"
    assert body["exitCode"] == 3
    assert len(body["output"]) == 32_000
    assert body["outputTruncated"] is True
    assert body["errorCode"] == "command_failed"
    assert len(body["errorMessage"]) == 2000
    assert not {"startedAt", "finishedAt", "attempts", "truncated", "message"} & set(body)


@MODULE
async def test_a_claim_maps_every_catalogue_kind(service: RunningService) -> None:
    async with action_world(service) as world:
        kinds = list(SCHEDULES)
        made = {}
        for kind in kinds:
            request = trigger(world.devices["WKS00001"], kind.value)
            made[(await world.operator.request_action(request)).action_id] = kind
        made[await queue_script(world, "WKS00002")] = ActionKind.RUN_SCRIPT
        restart = ActionRequest(
            device_id=world.devices["WKS00003"],
            action=RestartAction(kind="restart", delay_minutes=15),
        )
        made[(await world.operator.request_action(restart)).action_id] = ActionKind.RESTART
        source = CloudActionSource(world.connector())
        # More than the service takes in one claim, and a longer wait than it allows.
        claimed = {a.action_id: a for a in await source.claim(limit=10_000, wait_seconds=300)}
        assert set(claimed) == set(made)
        for action_id, kind in made.items():
            action = claimed[action_id]
            assert action.problem() is None
            assert action.expires_at.tzinfo is not None
            if kind in SCHEDULES:
                assert (action.kind, action.schedule_id) == ("trigger_schedule", SCHEDULES[kind])
                assert action.host == "WKS00001.corp.example"
                assert action.idempotent
            elif kind is ActionKind.RUN_SCRIPT:
                assert (action.kind, action.script) == ("run_script", SCRIPT)
                assert action.script_sha256 is not None
                assert len(action.script_sha256) == 64
                assert action.host == "WKS00002.corp.example"
                assert not action.idempotent
            else:
                assert (action.kind, action.restart_delay_seconds) == ("restart", 900)
                assert action.host == "WKS00003.corp.example"
        smsids = {a.smsid for a in claimed.values()}
        assert len(smsids) == 3
        assert all(s.startswith("GUID:") for s in smsids)
        assert await source.claim(limit=5, wait_seconds=0) == []


@MODULE
async def test_a_cancelled_action_is_not_started_and_a_started_one_is(
    service: RunningService,
) -> None:
    async with action_world(service, {"H-PS1": [1, 2], "H-PS2": [7]}) as world:
        first = await world.operator.request_action(trigger(world.devices["WKS00001"]))
        second = await world.operator.request_action(trigger(world.devices["WKS00002"]))
        other = await world.operator.request_action(trigger(world.devices["WKS00007"]))
        source = CloudActionSource(world.connector("H-PS1"))
        assert len(await source.claim(10, 0)) == 2
        cancelled = await world.operator.cancel_action(first.action_id)
        assert cancelled.state is ActionState.CANCELLED
        assert await source.start(first.action_id) is False
        assert await source.start(second.action_id) is True
        assert await source.start(second.action_id) is True  # a repeat is harmless
        assert (await world.operator.action(second.action_id)).state is ActionState.RUNNING
        # Another hierarchy's action is not this connector's to run.
        assert await source.start(other.action_id) is False
        assert (await world.operator.action(other.action_id)).state is ActionState.QUEUED


@MODULE
async def test_reports_are_idempotent_and_a_settled_action_counts_as_acknowledged(
    service: RunningService,
) -> None:
    async with action_world(service) as world:
        ran = await world.operator.request_action(trigger(world.devices["WKS00001"]))
        gone = await world.operator.request_action(trigger(world.devices["WKS00002"]))
        source = CloudActionSource(world.connector())
        await source.claim(10, 0)
        assert await source.start(ran.action_id)
        done = result(ran.action_id, return_value=0, output="ReturnValue 0", attempts=1)
        await source.report(done)
        await source.report(done)  # again, as after a crash before the journal said so
        seen = await world.operator.action(ran.action_id)
        assert (seen.state, seen.return_value, seen.output) == (
            ActionState.SUCCEEDED,
            0,
            "ReturnValue 0",
        )
        # Another result for it: the tenant keeps the first, the relay stops reporting.
        await source.report(result(ran.action_id, state="failed", error_code="winrm_timeout"))
        assert (await world.operator.action(ran.action_id)).state is ActionState.SUCCEEDED
        with pytest.raises(CloudApiError) as refused:
            await world.connector().report_action(
                to_wire(result(ran.action_id, state="failed", error_code="winrm_timeout"))
            )
        assert refused.value.code == "action_result_conflict"
        # Cancelled before any result: the tenant's cancel stands.
        await world.operator.cancel_action(gone.action_id)
        await source.report(result(gone.action_id, state="expired", started_at=None))
        assert (await world.operator.action(gone.action_id)).state is ActionState.CANCELLED


@MODULE
async def test_a_refusal_that_is_not_about_the_action_is_raised(service: RunningService) -> None:
    async with action_world(service) as world:
        source = CloudActionSource(world.connector())
        unknown = "0" * 8 + "-0000-4000-8000-" + "0" * 12
        assert await source.start(unknown) is False
        with pytest.raises(CloudApiError) as refused:
            await source.report(result(unknown))  # nothing to acknowledge: it stays unreported
        assert refused.value.code == "not_found"


@MODULE
async def test_the_relay_runs_the_tenant_s_actions_over_winrm(
    service: RunningService, tmp_path: Path
) -> None:
    async with action_world(service) as world:
        policy = await world.operator.request_action(
            ActionRequest(
                device_id=world.devices["WKS00001"],
                action=TriggerAction(kind="machinePolicyRetrieval"),
            )
        )
        script_id = await queue_script(world, "WKS00002")
        with (
            ConnectorState.open(None, data_dir=tmp_path) as state,
            WinRMResponder(credentials=(USER, PASSWORD)) as fleet,
        ):
            fleet.on("wks00002.corp.example", lambda _: CommandReply(stdout=b"Running\r\n"))
            relay = ActionRelay(CloudActionSource(world.connector()), winrm_client(), state, fast())
            stats = await relay.run_until_idle()
            assert (stats.succeeded, stats.reported) == (2, 2)
            assert state.actions.counts()["unreported"] == 0
        assert fleet.step_count("wks00001.corp.example", "command") == 1
        seen = await world.operator.action(policy.action_id)
        assert (seen.state, seen.return_value, seen.error_code) == (ActionState.SUCCEEDED, 0, None)
        ran = await world.operator.action(script_id)
        assert (ran.state, ran.exit_code, ran.output) == (ActionState.SUCCEEDED, 0, "Running\r\n")
        assert ran.started_at is not None
        assert ran.completed_at is not None
