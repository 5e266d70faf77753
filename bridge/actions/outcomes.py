"""One action on its device, and the `ActionResult` each way it can end.

`run_on_device` is what a worker thread runs: the action's one command
through the `DeviceClient`. The builders turn its outcome, or the project
error it raised, into the result the tenant is told, with the output capped
to what the tenant keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.actions.ports import ActionResult, ClaimedAction, DeviceClient
from onprem.errors import (
    ClientActionRefused,
    InvalidDeviceTarget,
    ScriptHashMismatch,
    WinRMCommandFailed,
)
from onprem.winrm import CommandOutput, ScheduleOutcome, schedule_id, script_digest
from onprem.winrm.config import check_host
from workloads.errors import CobridgeError

# Stable codes of failures the relay itself decides (the rest are the adapter's codes).
EXPIRED = "expired"
INTERRUPTED = "interrupted"
INVALID_ACTION = "invalid_action"
START_NOT_ACKNOWLEDGED = "start_not_acknowledged"
INTERNAL_ERROR = "internal_error"


class InvalidAction(CobridgeError):
    """An action as claimed cannot be run (an unknown kind, a missing field): nothing is sent."""

    code = INVALID_ACTION


@dataclass(frozen=True)
class Timing:
    """When an action's first attempt started (None: nothing was sent), when it ended, attempts."""

    started_at: datetime | None
    finished_at: datetime
    attempts: int = 0


def run_on_device(client: DeviceClient, action: ClaimedAction) -> ScheduleOutcome | CommandOutput:
    """Run the action's command (blocking); raises the adapter's `WinRMError` when it failed."""
    if action.kind == "trigger_schedule":
        return client.trigger_schedule(action.host, action.schedule_id or "")
    if action.kind == "run_script":
        return client.run_script(action.host, action.script or "", action.script_sha256 or "")
    return client.restart(action.host, int(action.restart_delay_seconds or 0))


def capped(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)


def succeeded(
    action: ClaimedAction, outcome: ScheduleOutcome | CommandOutput, timing: Timing, limit: int
) -> ActionResult:
    """The result of an action that did what it was asked."""
    output = outcome.output if isinstance(outcome, ScheduleOutcome) else outcome
    text, cut = capped(output.text(), limit)
    return ActionResult(
        action_id=action.action_id,
        state="succeeded",
        started_at=timing.started_at,
        finished_at=timing.finished_at,
        exit_code=output.exit_code,
        return_value=outcome.return_value if isinstance(outcome, ScheduleOutcome) else None,
        output=text,
        truncated=output.truncated or cut,
        attempts=timing.attempts,
    )


def failed(action_id: str, error: CobridgeError, timing: Timing, limit: int) -> ActionResult:
    """The result of an action that ended in a project error (its code, message and any output)."""
    exit_code = return_value = None
    output, truncated = "", False
    if isinstance(error, WinRMCommandFailed):
        exit_code, output, truncated = error.exit_code, error.output, error.truncated
    elif isinstance(error, ClientActionRefused):
        exit_code, return_value, output = 0, error.return_value, error.output
    text, cut = capped(output, limit)
    return ActionResult(
        action_id=action_id,
        state="failed",
        started_at=timing.started_at,
        finished_at=timing.finished_at,
        exit_code=exit_code,
        return_value=return_value,
        output=text,
        truncated=truncated or cut,
        error_code=error.code,
        message=str(error)[:2000],
        attempts=timing.attempts,
    )


def refused(action_id: str, code: str, message: str, timing: Timing) -> ActionResult:
    """The result of an action the relay ended itself (invalid, interrupted, not acknowledged)."""
    return ActionResult(
        action_id=action_id,
        state="failed",
        started_at=timing.started_at,
        finished_at=timing.finished_at,
        error_code=code,
        message=message,
        attempts=timing.attempts,
    )


def expired(action: ClaimedAction, now: datetime) -> ActionResult:
    """The result of an action whose time ran out before it started: it never ran."""
    return ActionResult(
        action_id=action.action_id,
        state="expired",
        started_at=None,
        finished_at=now,
        error_code=EXPIRED,
        message=f"not started: the action expired at {action.expires_at.isoformat()}",
    )


def refusal(action: ClaimedAction) -> CobridgeError | None:
    """Why an action is refused before anything is sent (None: it may run)."""
    problem = action.problem()
    if problem is not None:
        return InvalidAction(f"the action cannot be run: {problem}")
    try:
        check_host(action.host)
        if action.kind == "trigger_schedule":
            schedule_id(action.schedule_id or "")
    except ValueError as exc:
        return InvalidDeviceTarget(f"the action cannot be run: {exc}")
    if (
        action.kind == "run_script"
        and script_digest(action.script or "") != (action.script_sha256 or "").strip().lower()
    ):
        return ScriptHashMismatch(
            "the script does not match its approved SHA-256: it was not sent",
            hint="the script changed after it was approved: approve it again",
        )
    return None
