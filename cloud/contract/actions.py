"""Device actions on the wire: the catalogue, requests, and actions as admins see them.

A cloud admin asks for an action on an attached device (DESIGN.md section
10); the tenant queues it for the device's hierarchy, the connector claims it
over its outbound connection, runs it over WinRM and reports the result (the
connector's side of the wire is `cloud.contract.action_relay`). The client
actions are the agent's schedules (DOMAIN.md, client actions), triggered with
`SMS_Client.TriggerSchedule`; a script runs only if an admin approved it (the
tenant keeps its text with its SHA-256); a restart waits a bounded delay.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from cloud.contract.naming import CamelModel, CamelResponse

# Bounds: captured output the tenant keeps (the connector caps it first), a
# restart's delay, how long a queued action may wait, the size of a script.
MAX_OUTPUT_CHARS = 32_000
MAX_RESTART_DELAY_MINUTES = 1440
DEFAULT_EXPIRY_MINUTES = 1440
MAX_EXPIRY_MINUTES = 10_080
MAX_SCRIPT_CHARS = 65_536
# The most devices one bulk request may queue actions on.
BULK_CAP = 1000
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,128}$"
SHA256 = r"^[0-9a-f]{64}$"


def schedule_id(number: int) -> str:
    """The agent's schedule id `{00000000-0000-0000-0000-000000000NNN}` of schedule NNN."""
    return f"{{00000000-0000-0000-0000-{number:012d}}}"


class ActionKind(StrEnum):
    """What an action does on the device."""

    MACHINE_POLICY_RETRIEVAL = "machinePolicyRetrieval"
    MACHINE_POLICY_EVALUATION = "machinePolicyEvaluation"
    USER_POLICY_RETRIEVAL = "userPolicyRetrieval"
    USER_POLICY_EVALUATION = "userPolicyEvaluation"
    APP_DEPLOYMENT_EVALUATION = "appDeploymentEvaluation"
    HARDWARE_INVENTORY = "hardwareInventory"
    SOFTWARE_UPDATE_SCAN = "softwareUpdateScan"
    RUN_SCRIPT = "runScript"
    RESTART = "restart"


class ActionState(StrEnum):
    """Where an action is: queued, dispatched to the connector, running, or ended."""

    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        """Whether nothing more happens to an action in this state."""
        return self in ENDED


ENDED = frozenset(
    {ActionState.SUCCEEDED, ActionState.FAILED, ActionState.EXPIRED, ActionState.CANCELLED}
)

# The agent's schedule of each client action (DOMAIN.md, client actions).
SCHEDULES: dict[ActionKind, str] = {
    ActionKind.MACHINE_POLICY_RETRIEVAL: schedule_id(21),
    ActionKind.MACHINE_POLICY_EVALUATION: schedule_id(22),
    ActionKind.USER_POLICY_RETRIEVAL: schedule_id(26),
    ActionKind.USER_POLICY_EVALUATION: schedule_id(27),
    ActionKind.APP_DEPLOYMENT_EVALUATION: schedule_id(121),
    ActionKind.HARDWARE_INVENTORY: schedule_id(1),
    ActionKind.SOFTWARE_UPDATE_SCAN: schedule_id(113),
}
TRIGGERS = tuple(SCHEDULES)


class CatalogueEntry(CamelResponse):
    """One action the tenant offers.

    `idempotent`: running it twice does no harm (a schedule trigger), so a
    relay may repeat it after a crash; a script or a restart is not.
    """

    kind: ActionKind
    display_name: str
    description: str
    schedule_id: str | None
    needs_script: bool
    needs_delay: bool
    idempotent: bool


_NAMES = {
    ActionKind.MACHINE_POLICY_RETRIEVAL: (
        "Machine policy retrieval",
        "Download machine policy now",
    ),
    ActionKind.MACHINE_POLICY_EVALUATION: (
        "Machine policy evaluation",
        "Apply the machine policy already downloaded",
    ),
    ActionKind.USER_POLICY_RETRIEVAL: ("User policy retrieval", "Download user policy now"),
    ActionKind.USER_POLICY_EVALUATION: (
        "User policy evaluation",
        "Apply the user policy already downloaded",
    ),
    ActionKind.APP_DEPLOYMENT_EVALUATION: (
        "Application deployment evaluation",
        "Evaluate required application deployments",
    ),
    ActionKind.HARDWARE_INVENTORY: ("Hardware inventory", "Collect and send hardware inventory"),
    ActionKind.SOFTWARE_UPDATE_SCAN: ("Software update scan", "Scan for software updates"),
    ActionKind.RUN_SCRIPT: ("Run script", "Run a PowerShell script an admin approved"),
    ActionKind.RESTART: ("Restart", "Restart the device after a delay in minutes"),
}


def catalogue() -> list[CatalogueEntry]:
    """Every action the tenant offers, client actions first."""
    return [
        CatalogueEntry(
            kind=kind,
            display_name=_NAMES[kind][0],
            description=_NAMES[kind][1],
            schedule_id=SCHEDULES.get(kind),
            needs_script=kind is ActionKind.RUN_SCRIPT,
            needs_delay=kind is ActionKind.RESTART,
            idempotent=kind in SCHEDULES,
        )
        for kind in ActionKind
    ]


class TriggerAction(CamelModel):
    """A client action: the agent runs the schedule of `kind`."""

    kind: Literal[
        "machinePolicyRetrieval",
        "machinePolicyEvaluation",
        "userPolicyRetrieval",
        "userPolicyEvaluation",
        "appDeploymentEvaluation",
        "hardwareInventory",
        "softwareUpdateScan",
    ]


class RunScriptAction(CamelModel):
    """Run an approved script (no parameters: exactly the text an admin approved)."""

    kind: Literal["runScript"]
    script_id: str = Field(pattern=UUID)


class RestartAction(CamelModel):
    """Restart the device after `delayMinutes` (0: at once)."""

    kind: Literal["restart"]
    delay_minutes: int = Field(default=5, ge=0, le=MAX_RESTART_DELAY_MINUTES)


ActionSpec = Annotated[TriggerAction | RunScriptAction | RestartAction, Field(discriminator="kind")]


class ActionRequest(CamelModel):
    """An action on one device.

    `idempotencyKey` (optional, per caller): the same key with the same
    request answers the action made the first time; with another request it
    is refused (`idempotency_conflict`). `expiresInMinutes`: an action no
    connector claimed by then ends `expired`.
    """

    device_id: str = Field(min_length=1, max_length=64)
    action: ActionSpec
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY)
    expires_in_minutes: int = Field(default=DEFAULT_EXPIRY_MINUTES, ge=1, le=MAX_EXPIRY_MINUTES)


class ActionOut(CamelResponse):
    """An action with its state, timestamps and result.

    `completedAt` is set in every ended state (succeeded, failed, expired,
    cancelled). `output` is what the device printed, capped
    (`outputTruncated`); `exitCode` a script's, `returnValue`
    TriggerSchedule's (0: success); `errorCode`/`errorMessage` why it failed.
    """

    action_id: str
    device_id: str
    device_name: str
    hierarchy_id: str
    smsid: str
    kind: ActionKind
    schedule_id: str | None
    script_id: str | None
    script_sha256: str | None
    restart_delay_minutes: int | None
    state: ActionState
    bulk_id: str | None
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_by: str | None
    deliveries: int
    exit_code: int | None
    return_value: int | None
    output: str | None
    output_truncated: bool
    error_code: str | None
    error_message: str | None


class ActionPage(CamelResponse):
    """A page of actions, newest first, with the link to the next one."""

    value: list[ActionOut]
    next_link: str | None = Field(default=None, alias="@odata.nextLink")


class ActionListQuery(CamelModel):
    """Filters and keyset paging of the action list (newest first)."""

    device_id: str | None = Field(default=None, min_length=1, max_length=64)
    state: ActionState | None = None
    kind: ActionKind | None = None
    bulk_id: str | None = Field(default=None, pattern=UUID)
    top: int = Field(default=100, ge=1, le=1000, alias="$top")
    skiptoken: str | None = Field(default=None, alias="$skiptoken", max_length=256)


class ScriptCreate(CamelModel):
    """A script an admin approves: its text, kept with its SHA-256 (of the UTF-8 bytes).

    `sha256`, when given, must be the text's: a guard against a changed copy.
    """

    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
    description: str = Field(default="", max_length=1000)
    content: str = Field(min_length=1, max_length=MAX_SCRIPT_CHARS)
    sha256: str | None = Field(default=None, pattern=SHA256)


def script_digest(content: str) -> str:
    """The SHA-256 (hex) a script is kept and delivered with."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


class ScriptOut(CamelResponse):
    """An approved script (retired ones can no longer be asked for)."""

    script_id: str
    name: str
    description: str
    sha256: str
    size: int
    approved_by: str
    approved_at: datetime
    retired_by: str | None
    retired_at: datetime | None


class ScriptDetail(ScriptOut):
    """An approved script with its text."""

    content: str
