"""What the action relay needs from the tenant and from devices, as small ports.

`ActionSource` is the tenant's side (the cloud client implements it):
claim actions with a long poll, say an action starts, report how it ended.
`DeviceClient` is the device's side (`onprem.winrm.WinRMClient` implements
it). `ClaimedAction` and `ActionResult` are the relay's own records; the
source maps them from and to its wire contract.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from onprem.winrm import CommandOutput, ScheduleOutcome

ActionKind = Literal["trigger_schedule", "run_script", "restart"]
ResultState = Literal["succeeded", "failed", "expired"]
KINDS: frozenset[str] = frozenset({"trigger_schedule", "run_script", "restart"})
# Only a client schedule may run again after a crash: triggering it twice is harmless.
IDEMPOTENT_KINDS: frozenset[str] = frozenset({"trigger_schedule"})


@dataclass(frozen=True)
class ClaimedAction:
    """One action the tenant handed to this connector.

    `host` is the name WinRM reaches the device by (its FQDN). A
    `trigger_schedule` carries `schedule_id` ("021" or the braced id); a
    `run_script` carries the approved `script` text and its `script_sha256`
    (hex, over the text as UTF-8); a `restart` its `restart_delay_seconds`.
    An action is never started at or after `expires_at` (timezone-aware).
    """

    action_id: str
    kind: ActionKind
    smsid: str
    host: str
    expires_at: datetime
    schedule_id: str | None = None
    script: str | None = None
    script_sha256: str | None = None
    restart_delay_seconds: int | None = None

    @property
    def idempotent(self) -> bool:
        """Whether running it twice is harmless (so a crash mid-run may run it again)."""
        return self.kind in IDEMPOTENT_KINDS

    def problem(self) -> str | None:
        """Why this action cannot be run as given (None: it can)."""
        if self.kind not in KINDS:
            return f"unknown action kind {self.kind!r}"
        if self.expires_at.tzinfo is None:
            return "expires_at has no timezone"
        missing = {
            "trigger_schedule": ("schedule_id", self.schedule_id),
            "run_script": ("script", self.script if self.script_sha256 else None),
            "restart": ("restart_delay_seconds", self.restart_delay_seconds),
        }[self.kind]
        if missing[1] is None:
            return f"a {self.kind} action needs {missing[0]}"
        return None

    def to_payload(self) -> dict[str, Any]:
        """The action as JSON-ready values (stored, so a restart can resume it)."""
        values = asdict(self)
        values["expires_at"] = self.expires_at.isoformat()
        return values

    @classmethod
    def from_payload(cls, values: dict[str, Any]) -> ClaimedAction:
        """The action `to_payload` stored."""
        return cls(**(values | {"expires_at": datetime.fromisoformat(values["expires_at"])}))


@dataclass(frozen=True)
class ActionResult:
    """How an action ended; reported to the tenant, the same result as often as needed.

    `started_at` is None when nothing was sent to the device. `exit_code` is
    a command's, `return_value` TriggerSchedule's. `output` (stdout, then
    stderr after a `[stderr]` line) is at most `RelayOptions.max_result_chars`
    characters; `truncated` says some was dropped. A failure has a stable
    `error_code` (`expired`, `interrupted`, `invalid_action`, or an
    `onprem.errors.WinRMError` code such as `winrm_unreachable`) and a
    `message` for people.
    """

    action_id: str
    state: ResultState
    started_at: datetime | None
    finished_at: datetime
    exit_code: int | None = None
    return_value: int | None = None
    output: str = ""
    truncated: bool = False
    error_code: str | None = None
    message: str | None = None
    attempts: int = 0

    def to_payload(self) -> dict[str, Any]:
        """The result as JSON-ready values (stored until the tenant acknowledges it)."""
        values = asdict(self)
        values["started_at"] = self.started_at.isoformat() if self.started_at else None
        values["finished_at"] = self.finished_at.isoformat()
        return values

    @classmethod
    def from_payload(cls, values: dict[str, Any]) -> ActionResult:
        """The result `to_payload` stored."""
        started = values.get("started_at")
        return cls(
            **values
            | {
                "started_at": datetime.fromisoformat(started) if started else None,
                "finished_at": datetime.fromisoformat(values["finished_at"]),
            }
        )


class ActionSource(Protocol):
    """The tenant's action queue for this connector's hierarchy."""

    async def claim(self, limit: int, wait_seconds: float) -> list[ClaimedAction]:
        """Up to `limit` queued actions, waiting up to `wait_seconds` for the first (long poll).

        An action may be offered again (a lost answer, a restart): the relay
        recognises it by `action_id`. Raises `CobridgeError` when the tenant
        cannot be asked now (the relay waits and asks again).
        """
        ...

    async def start(self, action_id: str) -> bool:
        """Tell the tenant the action starts now; False when it must not (cancelled, expired).

        Called before anything is sent to the device; repeating it is
        harmless. Raises `CobridgeError` when the tenant cannot be told now.
        """
        ...

    async def report(self, result: ActionResult) -> None:
        """Hand the tenant an action's result; returning means the tenant holds a result for it.

        Idempotent by `action_id`: the relay reports again until a call
        returns (after a crash too). Raises `CobridgeError` to be retried later.
        """
        ...


class DeviceClient(Protocol):
    """Runs commands on devices (blocking; the relay calls it from worker threads)."""

    def trigger_schedule(
        self, host: str, schedule: str, *, timeout: float | None = None
    ) -> ScheduleOutcome:
        """Trigger a client schedule; raises `WinRMError` when it was not accepted."""
        ...

    def run_script(
        self, host: str, script: str, sha256: str, *, timeout: float | None = None
    ) -> CommandOutput:
        """Run an approved script; raises `WinRMError` (non-zero exit included)."""
        ...

    def restart(
        self, host: str, delay_seconds: int, *, timeout: float | None = None
    ) -> CommandOutput:
        """Schedule a restart; raises `WinRMError` when it could not be."""
        ...
