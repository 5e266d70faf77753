"""What the action relay tests share: an in-memory tenant, action builders, a real WinRM client.

`MemorySource` is an `ActionSource` holding a queue of actions and every
result reported (each report kept, so idempotent repeats are visible). Run
as a module, this file is a relay process that can be killed mid-run:
`python -m tests.support.action_relay_rig STATE_URL ACTIONS_JSON READY_FILE` runs
the actions in the file against a mocked fleet whose script commands never
finish, after writing READY_FILE once a script command reached its device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from collections import defaultdict, deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.actions import ActionRelay, ActionResult, ClaimedAction, RelayOptions
from bridge.state import ConnectorState
from onprem.winrm import WinRMClient, WinRMConfig, script_digest
from tests.support.winrm_responder import CommandReply, SentCommand, WinRMResponder, simulated_agent
from workloads.errors import CobridgeError

USER, PASSWORD = "svc-cobridge", "Relay-Pa55-c0de"
SCRIPT = "Get-Service CcmExec | Select-Object -ExpandProperty Status"


class TenantUnreachable(CobridgeError):
    """The in-memory tenant refusing a call, as the cloud client does when it cannot connect."""

    code = "cloud_unavailable"


class MemorySource:
    """An in-memory tenant queue implementing `ActionSource`."""

    def __init__(self, actions: Iterable[ClaimedAction] = ()) -> None:
        self.queue: deque[ClaimedAction] = deque(actions)
        self.reports: defaultdict[str, list[ActionResult]] = defaultdict(list)
        self.started: list[str] = []
        self.cancelled: set[str] = set()
        self.failing_reports = 0
        self.failing_claims = 0
        self.claims = 0
        self._offered = asyncio.Event()
        self.reported = asyncio.Event()

    def offer(self, *actions: ClaimedAction) -> None:
        """Queue actions (again, for an action offered a second time)."""
        self.queue.extend(actions)
        self._offered.set()

    async def claim(self, limit: int, wait_seconds: float) -> list[ClaimedAction]:
        """Up to `limit` queued actions; when none is queued, waits for one up to `wait_seconds`."""
        self.claims += 1
        if self.failing_claims:
            self.failing_claims -= 1
            raise TenantUnreachable("the tenant is unreachable")
        if not self.queue and wait_seconds > 0:
            self._offered.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._offered.wait(), wait_seconds)
        taken = []
        while self.queue and len(taken) < limit:
            taken.append(self.queue.popleft())
        return taken

    async def start(self, action_id: str) -> bool:
        """Record the start; False for an action cancelled at the tenant."""
        self.started.append(action_id)
        return action_id not in self.cancelled

    async def report(self, result: ActionResult) -> None:
        """Keep the result, unless reports are set to fail."""
        if self.failing_reports:
            self.failing_reports -= 1
            raise TenantUnreachable("the tenant is unreachable")
        self.reports[result.action_id].append(result)
        self.reported.set()

    def result(self, action_id: str) -> ActionResult:
        """The last result reported for an action."""
        return self.reports[action_id][-1]


def later(minutes: float = 60) -> datetime:
    """An expiry in the future."""
    return datetime.now(UTC) + timedelta(minutes=minutes)


def smsid(host: str) -> str:
    """A stable SMSID for a host name."""
    number = sum(host.encode()) * 7919
    return f"GUID:{number % 16**8:08X}-0000-4000-8000-{number:012X}"


def trigger(action_id: str, host: str, schedule: str = "021", **kw: object) -> ClaimedAction:
    """A client-schedule action."""
    values = {"expires_at": later()} | kw
    return ClaimedAction(
        action_id, "trigger_schedule", smsid(host), host, schedule_id=schedule, **values
    )


def script(action_id: str, host: str, text: str = SCRIPT, **kw: object) -> ClaimedAction:
    """An approved-script action (hashed correctly unless `script_sha256` is given)."""
    values = {"expires_at": later(), "script_sha256": script_digest(text)} | kw
    return ClaimedAction(action_id, "run_script", smsid(host), host, script=text, **values)


def restart(action_id: str, host: str, delay: int = 300) -> ClaimedAction:
    """A restart action."""
    return ClaimedAction(
        action_id, "restart", smsid(host), host, later(), restart_delay_seconds=delay
    )


def winrm_client(**overrides: object) -> WinRMClient:
    """A WinRM client with basic auth over HTTPS (what the mocked fleet accepts)."""
    values: dict[str, object] = {"auth": "basic", "username": USER, "password": PASSWORD}
    return WinRMClient(WinRMConfig(**(values | overrides)))


def fast(**overrides: object) -> RelayOptions:
    """Relay options with short waits between attempts (tests must not idle)."""
    values: dict[str, object] = {"retry_initial_seconds": 0.01, "retry_max_seconds": 0.05}
    return RelayOptions(**(values | overrides))  # type: ignore[arg-type]


def _hanging_scripts(command: SentCommand, ready: Path) -> CommandReply:
    if "TriggerSchedule" in (command.script or ""):
        return simulated_agent(command)
    ready.write_text(command.command_id)
    threading.Event().wait()  # the script never ends: the process is killed meanwhile
    return CommandReply()


async def _child(state_url: str, actions_file: Path, ready: Path) -> None:
    actions = [ClaimedAction.from_payload(a) for a in json.loads(actions_file.read_text())]
    with (
        ConnectorState.open(state_url, data_dir=actions_file.parent) as state,
        WinRMResponder(credentials=(USER, PASSWORD)) as fleet,
    ):
        fleet.on_default(lambda command: _hanging_scripts(command, ready))
        relay = ActionRelay(MemorySource(actions), winrm_client(), state, fast())
        await relay.run_until_idle()


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
