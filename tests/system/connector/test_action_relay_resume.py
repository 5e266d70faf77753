"""A restarted relay never runs a script or restart twice, and loses no result.

The journal is real connector state (SQLite and PostgreSQL). One test kills
a relay process with SIGKILL while its script runs on a device, then starts
a relay on the same state, with the tenant offering the action again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.actions import ActionRelay, ClaimedAction
from bridge.state import ConnectorState
from bridge.state.actions import NewActionRun
from tests.support.action_relay_rig import (
    PASSWORD,
    USER,
    MemorySource,
    fast,
    restart,
    script,
    trigger,
    winrm_client,
)
from tests.support.paths import REPO_ROOT
from tests.support.pg import throwaway_pg_database
from tests.support.winrm_responder import CommandReply, SentCommand, WinRMResponder, simulated_agent

pytestmark = pytest.mark.asyncio
ROOT = REPO_ROOT


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'connector-state.db'}"
    else:
        with throwaway_pg_database("cobridge_resume") as url:
            yield url.render_as_string(hide_password=False)


@pytest.fixture
def fleet() -> Iterator[WinRMResponder]:
    """Mocked WinRM hosts accepting the relay's account."""
    with WinRMResponder(credentials=(USER, PASSWORD)) as responder:
        yield responder


def crashed_while_running(state: ConnectorState, *actions: ClaimedAction) -> None:
    """The journal a crash leaves: each action claimed, and recorded as started."""
    journal_claims(state, *actions)
    for action in actions:
        assert state.actions.mark_started(action.action_id, now=action.expires_at) == 1


def journal_claims(state: ConnectorState, *actions: ClaimedAction) -> None:
    """The journal a crash right after claiming leaves: nothing started."""
    state.actions.record_claims(
        [
            NewActionRun(a.action_id, a.kind, a.smsid, a.host, a.to_payload(), a.expires_at)
            for a in actions
        ],
        now=actions[0].expires_at,
    )


async def test_a_started_script_or_restart_is_reported_interrupted_not_run(
    state_url: str, tmp_path: Path, fleet: WinRMResponder
) -> None:
    with ConnectorState.open(state_url, data_dir=tmp_path) as state:
        crashed_while_running(
            state, script("s-1", "pc1.corp.example.com"), restart("s-2", "pc2.corp.example.com")
        )
    with ConnectorState.open(state_url, data_dir=tmp_path) as state:
        source = MemorySource()
        relay = ActionRelay(source, winrm_client(), state, fast())
        await relay.run_until_idle()
        for action_id in ("s-1", "s-2"):
            result = source.result(action_id)
            assert (result.state, result.error_code, result.attempts) == (
                "failed",
                "interrupted",
                1,
            )
            assert result.started_at is not None
        assert relay.stats.interrupted == 2
        assert not fleet.commands
        assert state.actions.counts()["unreported"] == 0


async def test_a_started_client_schedule_runs_again_and_an_unstarted_script_runs(
    state_url: str, tmp_path: Path, fleet: WinRMResponder
) -> None:
    with ConnectorState.open(state_url, data_dir=tmp_path) as state:
        crashed_while_running(state, trigger("t-1", "pc1.corp.example.com"))
        journal_claims(state, script("t-2", "pc2.corp.example.com"))
        source = MemorySource()
        await ActionRelay(source, winrm_client(), state, fast()).run_until_idle()
        again, first_run = source.result("t-1"), source.result("t-2")
        assert (again.state, again.attempts) == ("succeeded", 2)
        assert (first_run.state, first_run.attempts) == ("succeeded", 1)
        assert sorted(c.host for c in fleet.commands) == [
            "pc1.corp.example.com",
            "pc2.corp.example.com",
        ]


async def test_a_killed_relay_never_runs_its_script_twice(
    state_url: str, tmp_path: Path, fleet: WinRMResponder
) -> None:
    actions = [script("k-2", "pc2.corp.example.com")]
    actions_file = tmp_path / "actions.json"
    actions_file.write_text(json.dumps([a.to_payload() for a in actions]))
    ready = tmp_path / "script-running"
    with ConnectorState.open(state_url, data_dir=tmp_path):
        pass  # migrated here, so the child only runs the relay
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.action_relay_rig",
            state_url,
            str(actions_file),
            str(ready),
        ],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), f"the relay process never ran the script (exit {child.poll()})"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with ConnectorState.open(state_url, data_dir=tmp_path) as state:
        run = state.actions.get("k-2")
        assert run is not None
        assert run.state == "started"
        # The tenant, told the script started but never told its end, offers it again.
        source = MemorySource(actions)
        relay = ActionRelay(source, winrm_client(), state, fast())
        await relay.run_until_idle()
        assert source.result("k-2").error_code == "interrupted"
        assert source.reports["k-2"][-1].state == "failed"
        assert not fleet.commands
        assert state.actions.counts() == {
            "claimed": 0,
            "started": 0,
            "finished": 1,
            "unreported": 0,
        }


async def test_a_running_relay_outlasts_a_failed_claim_and_stops_cleanly(
    state_url: str, tmp_path: Path, fleet: WinRMResponder
) -> None:
    host = "pc1.corp.example.com"
    arrived, release = threading.Event(), threading.Event()

    def first_blocks(sent: SentCommand) -> CommandReply:
        if not arrived.is_set():
            arrived.set()
            release.wait(30)
        return simulated_agent(sent)

    fleet.on(host, first_blocks)
    actions = [trigger(f"r-{n}", host) for n in range(3)]
    source = MemorySource(actions)
    source.failing_claims = 1
    options = fast(device_concurrency=1, poll_wait_seconds=5, report_retry_seconds=0.01)
    with ConnectorState.open(state_url, data_dir=tmp_path) as state:
        stop = asyncio.Event()
        running = asyncio.create_task(ActionRelay(source, winrm_client(), state, options).run(stop))
        assert await asyncio.to_thread(arrived.wait, 30)
        # Stopping while the first command runs: it finishes and is reported; the
        # two waiting for the device stay claimed in the journal for the next start.
        stop.set()
        release.set()
        await asyncio.wait_for(running, 30)
        assert source.claims >= 2  # the failed claim was asked again
        assert list(source.reports) == ["r-0"]
        assert [run.action_id for run in state.actions.unfinished()] == ["r-1", "r-2"]
        assert len(fleet.commands) == 1
        again = MemorySource()
        await ActionRelay(again, winrm_client(), state, fast()).run_until_idle()
        assert sorted(again.reports) == ["r-1", "r-2"]
        assert len(fleet.commands) == 3


async def test_a_running_relay_picks_up_actions_offered_later(
    state_url: str, tmp_path: Path, fleet: WinRMResponder
) -> None:
    source = MemorySource()
    options = fast(poll_wait_seconds=5)
    with ConnectorState.open(state_url, data_dir=tmp_path) as state:
        stop = asyncio.Event()
        running = asyncio.create_task(ActionRelay(source, winrm_client(), state, options).run(stop))
        source.offer(trigger("l-1", "pc1.corp.example.com"))
        await asyncio.wait_for(source.reported.wait(), 30)
        stop.set()
        await asyncio.wait_for(running, 30)
        assert source.result("l-1").state == "succeeded"
