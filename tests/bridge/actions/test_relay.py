"""The action relay against an in-memory tenant, a mocked WinRM fleet and real connector state.

Every test runs on SQLite and on PostgreSQL. The WinRM side is the real
adapter (pywinrm) talking to the `responses` mock of WS-Management.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.actions import ActionRelay, RelayOptions
from bridge.state import ConnectorState
from tests.support.action_relay_rig import (
    PASSWORD,
    USER,
    MemorySource,
    fast,
    restart,
    script,
    smsid,
    trigger,
    winrm_client,
)
from tests.support.pg import throwaway_pg_database
from tests.support.winrm_responder import CommandReply, WinRMResponder

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConnectorState]:
    """A migrated, empty connector state on each backend."""
    if request.param == "sqlite":
        with ConnectorState.open(None, data_dir=tmp_path) as opened:
            yield opened
    else:
        with (
            throwaway_pg_database("cobridge_relay") as url,
            ConnectorState.open(
                url.render_as_string(hide_password=False), data_dir=tmp_path
            ) as opened,
        ):
            yield opened


@pytest.fixture
def fleet() -> Iterator[WinRMResponder]:
    """Mocked WinRM hosts accepting the relay's account."""
    with WinRMResponder(credentials=(USER, PASSWORD)) as responder:
        yield responder


async def relay_all(
    state: ConnectorState,
    source: MemorySource,
    options: RelayOptions | None = None,
    **client: object,
) -> ActionRelay:
    """Run a relay until the source is empty and every action ended."""
    relay = ActionRelay(source, winrm_client(**client), state, options or fast())
    await relay.run_until_idle()
    return relay


async def test_each_kind_runs_and_its_result_is_reported_and_journalled(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    fleet.on("pc2.corp.example.com", lambda sent: CommandReply(stdout=b"Running\r\n"))
    source = MemorySource(
        [
            trigger("a-1", "pc1.corp.example.com", "121"),
            script("a-2", "pc2.corp.example.com"),
            restart("a-3", "pc3.corp.example.com", delay=600),
        ]
    )
    relay = await relay_all(state, source)
    first, second, third = (source.result(f"a-{n}") for n in (1, 2, 3))
    assert (first.state, first.return_value, first.exit_code) == ("succeeded", 0, 0)
    assert (second.state, second.output, second.exit_code) == ("succeeded", "Running\r\n", 0)
    assert third.state == "succeeded"
    assert all(
        r.started_at is not None and r.started_at <= r.finished_at for r in (first, second, third)
    )
    assert source.started == ["a-1", "a-2", "a-3"]
    [schedule] = [c.script for c in fleet.commands if c.host == "pc1.corp.example.com"]
    assert "{00000000-0000-0000-0000-000000000121}" in (schedule or "")
    [shutdown] = [c for c in fleet.commands if c.host == "pc3.corp.example.com"]
    assert shutdown.arguments[:3] == ("/r", "/t", "600")
    assert relay.stats.succeeded == 3
    assert state.actions.counts() == {"claimed": 0, "started": 0, "finished": 3, "unreported": 0}
    run = state.actions.get("a-2")
    assert run is not None
    assert (run.attempts, run.smsid, run.result and run.result["state"]) == (
        1,
        smsid("pc2.corp.example.com"),
        "succeeded",
    )


async def test_one_device_never_runs_more_than_its_limit(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    # Each command waits on the device until three run at once (or 0.3 s): a relay
    # letting more than two run on one device would be seen doing it.
    fleet.hold_until(3, at_most=0.3)
    host = "busy.corp.example.com"
    source = MemorySource([trigger(f"d-{n}", host) for n in range(6)])
    relay = await relay_all(state, source, fast(device_concurrency=2, global_concurrency=8))
    assert relay.stats.succeeded == 6
    assert fleet.peak_active_per_host[host] == 2


async def test_the_global_limit_holds_across_devices(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    fleet.hold_until(3, at_most=0.3)
    hosts = [f"pc{n}.corp.example.com" for n in range(4)]
    source = MemorySource([trigger(f"g-{h}-{n}", h) for n in range(2) for h in hosts])
    relay = await relay_all(state, source, fast(device_concurrency=1, global_concurrency=2))
    assert relay.stats.succeeded == 8
    assert fleet.peak_active == 2
    assert all(fleet.peak_active_per_host[h] == 1 for h in hosts)


async def test_transient_failures_are_retried_and_permanent_ones_are_not(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    fleet.fail("flaky.corp.example.com", "create", "unreachable", times=2)
    fleet.fail("denied.corp.example.com", "create", "unauthorized")
    fleet.fail("gone.corp.example.com", "create", "unreachable")
    source = MemorySource(
        [
            trigger("t-flaky", "flaky.corp.example.com"),
            trigger("t-denied", "denied.corp.example.com"),
            trigger("t-gone", "gone.corp.example.com"),
        ]
    )
    relay = await relay_all(state, source, fast(retry_attempts=3))
    flaky, denied, gone = (source.result(f"t-{n}") for n in ("flaky", "denied", "gone"))
    assert (flaky.state, flaky.attempts) == ("succeeded", 3)
    assert (denied.state, denied.error_code, denied.attempts) == (
        "failed",
        "winrm_auth_rejected",
        1,
    )
    assert (gone.state, gone.error_code, gone.attempts) == ("failed", "winrm_unreachable", 3)
    assert fleet.step_count("denied.corp.example.com", "create") == 1
    assert fleet.step_count("gone.corp.example.com", "create") == 3
    assert relay.stats.retries == 4
    assert relay.stats.errors == {"winrm_auth_rejected": 1, "winrm_unreachable": 1}


async def test_a_script_that_may_have_started_is_never_tried_again(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    # The connection breaks while reading output: the script may be running.
    fleet.fail("pc1.corp.example.com", "receive", "reset")
    # The connection is refused before the shell exists: certainly not sent.
    fleet.fail("pc2.corp.example.com", "create", "unreachable", times=1)
    # A client schedule may run twice: the broken read is tried again.
    fleet.fail("pc3.corp.example.com", "receive", "reset", times=1)
    source = MemorySource(
        [
            script("s-1", "pc1.corp.example.com"),
            script("s-2", "pc2.corp.example.com"),
            trigger("s-3", "pc3.corp.example.com"),
        ]
    )
    await relay_all(state, source, fast(retry_attempts=3))
    sent_once = source.result("s-1")
    assert (sent_once.state, sent_once.error_code, sent_once.attempts) == (
        "failed",
        "winrm_unreachable",
        1,
    )
    assert fleet.step_count("pc1.corp.example.com", "command") == 1
    assert (source.result("s-2").state, source.result("s-2").attempts) == ("succeeded", 2)
    assert (source.result("s-3").state, source.result("s-3").attempts) == ("succeeded", 2)
    assert fleet.step_count("pc3.corp.example.com", "command") == 2


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (CommandReply(stdout=b"oops", stderr=b"Invalid namespace", exit_code=1), "command_failed"),
        (CommandReply(stdout=b"no marker here"), "winrm_bad_response"),
    ],
)
async def test_a_failed_command_is_reported_with_its_output(
    state: ConnectorState, fleet: WinRMResponder, reply: CommandReply, code: str
) -> None:
    fleet.on("pc1.corp.example.com", lambda sent: reply)
    source = MemorySource([trigger("f-1", "pc1.corp.example.com")])
    await relay_all(state, source)
    result = source.result("f-1")
    assert (result.state, result.error_code, result.attempts) == ("failed", code, 1)
    assert result.message
    if code == "command_failed":
        assert result.exit_code == 1
        assert "Invalid namespace" in result.output


async def test_a_refused_schedule_reports_its_return_value(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    fleet.on("pc1.corp.example.com", lambda sent: CommandReply(stdout=b"cobridge-return-value:5"))
    source = MemorySource([trigger("r-1", "pc1.corp.example.com")])
    await relay_all(state, source)
    result = source.result("r-1")
    assert (result.state, result.error_code, result.return_value) == (
        "failed",
        "client_action_refused",
        5,
    )


async def test_output_is_capped_to_what_the_tenant_keeps(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    fleet.on("pc1.corp.example.com", lambda sent: CommandReply(stdout=b"x" * 5000))
    source = MemorySource([script("o-1", "pc1.corp.example.com")])
    await relay_all(state, source, fast(max_result_chars=1000), max_output_bytes=2000)
    result = source.result("o-1")
    assert (len(result.output), result.truncated) == (1000, True)


async def test_expired_and_invalid_actions_are_reported_without_running(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    source = MemorySource(
        [
            trigger("x-expired", "pc1.corp.example.com", expires_at=past),
            script("x-tampered", "pc1.corp.example.com", script_sha256="0" * 64),
            trigger("x-unknown", "pc1.corp.example.com", "999"),
            trigger("x-noschedule", "pc1.corp.example.com", None),
        ]
    )
    relay = await relay_all(state, source)
    results = {k: source.result(f"x-{k}") for k in ("expired", "tampered", "unknown", "noschedule")}
    assert (results["expired"].state, results["expired"].error_code) == ("expired", "expired")
    assert results["tampered"].error_code == "script_hash_mismatch"
    assert results["unknown"].error_code == "invalid_device_target"
    assert results["noschedule"].error_code == "invalid_action"
    assert all(r.started_at is None and r.attempts == 0 for r in results.values())
    # Refused before the tenant was told they start, and before any request to the device.
    assert sum(fleet.steps.values()) == 0
    assert source.started == []
    assert relay.stats.expired == 1


async def test_an_action_cancelled_at_the_tenant_is_not_run(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    source = MemorySource([trigger("c-1", "pc1.corp.example.com")])
    source.cancelled.add("c-1")
    relay = await relay_all(state, source)
    assert not fleet.commands
    assert "c-1" not in source.reports
    assert relay.stats.skipped == 1
    run = state.actions.get("c-1")
    assert run is not None
    assert (run.state, run.result, run.reported_at is not None) == ("finished", None, True)


async def test_results_are_reported_again_until_acknowledged(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    source = MemorySource([script(f"p-{n}", "pc1.corp.example.com") for n in range(3)])
    source.failing_reports = 10
    first = await relay_all(state, source)
    assert first.stats.succeeded == 3
    assert not source.reports
    assert state.actions.counts()["unreported"] == 3
    # The tenant is back: a later run (after a restart too) reports, and runs nothing again.
    source.failing_reports = 0
    second = await relay_all(state, source)
    assert sorted(source.reports) == ["p-0", "p-1", "p-2"]
    assert all(len(reports) == 1 for reports in source.reports.values())
    assert second.stats.reported == 3
    assert len(fleet.commands) == 3
    assert state.actions.counts()["unreported"] == 0


async def test_an_action_offered_again_is_not_run_again(
    state: ConnectorState, fleet: WinRMResponder
) -> None:
    action = script("o-1", "pc1.corp.example.com")
    source = MemorySource([action])
    await relay_all(state, source)
    source.offer(action)
    await relay_all(state, source)
    assert len(fleet.commands) == 1
    assert [r.state for r in source.reports["o-1"]] == ["succeeded", "succeeded"]
    assert source.reports["o-1"][0] == source.reports["o-1"][1]
