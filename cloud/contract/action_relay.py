"""Device actions between the tenant and the connector that relays them.

The connector long-polls `POST /connector/v1/actions/claim?limit=&wait=`
for its own hierarchy's queued actions (`ActionClaim`), says when it starts
one (`ActionStarted`) and posts how it ended (`ActionResult`). Each claimed
action is `dispatched`; one that is not marked running within the lease is
offered again (`deliveries` counts the offers), so a lost answer loses no
action; the connector recognises a repeat by its id. Results are idempotent:
the same result again is answered as the first time, a different one is
refused (`action_result_conflict`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from cloud.contract.actions import MAX_OUTPUT_CHARS, UUID, ActionKind, ActionState
from cloud.contract.naming import CamelModel, CamelResponse

MAX_CLAIM = 500
MAX_WAIT_SECONDS = 60
ERROR_CODE = r"^[a-z][a-z0-9_]{0,63}$"


class ActionClaimQuery(CamelModel):
    """How many actions the connector can take now, and how long to wait for the first."""

    limit: int = Field(default=50, ge=1, le=MAX_CLAIM)
    wait: int = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)


class ActionTarget(CamelResponse):
    """The device an action runs on, with the names WinRM can reach it by."""

    device_id: str
    smsid: str
    resource_id: int | None
    name: str
    fqdn: str | None
    netbios_name: str | None
    domain: str | None


class ScriptDelivery(CamelResponse):
    """An approved script's text and its SHA-256: run it only if the text hashes to it."""

    script_id: str
    name: str
    content: str
    sha256: str


class ClaimedAction(CamelResponse):
    """One action for the connector to run.

    A client action carries its `scheduleId` (for TriggerSchedule); a script
    its text; a restart its delay. `idempotent` False (script, restart): never
    run it a second time after a crash. `deliveries` > 1: offered before.
    """

    action_id: str
    kind: ActionKind
    schedule_id: str | None
    script: ScriptDelivery | None
    restart_delay_minutes: int | None
    idempotent: bool
    device: ActionTarget
    requested_at: datetime
    expires_at: datetime
    deliveries: int


class ActionClaim(CamelResponse):
    """The actions claimed for the connector (possibly none, after the wait)."""

    value: list[ClaimedAction]
    server_time: datetime


class ActionStarted(CamelModel):
    """The connector is about to run the action (it goes `running`)."""

    action_id: str = Field(pattern=UUID)


class ActionResult(CamelModel):
    """How an action ended on the device (or `expired`: the connector never started it in time).

    `returnValue`: TriggerSchedule's ReturnValue; `exitCode`: a script's.
    `output` is capped by the connector (`outputTruncated` says it was).
    `errorCode` is the relay's stable code for a failure (e.g. `unreachable`,
    `timeout`, `auth_failed`), `errorMessage` its human text. The times are
    the service's: running from `ActionStarted`, ended when this arrives.
    """

    action_id: str = Field(pattern=UUID)
    state: Literal["succeeded", "failed", "expired"]
    exit_code: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    return_value: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    output: str = Field(default="", max_length=MAX_OUTPUT_CHARS)
    output_truncated: bool = False
    error_code: str | None = Field(default=None, pattern=ERROR_CODE)
    error_message: str | None = Field(default=None, max_length=2000)


class ActionAck(CamelResponse):
    """The action's state after the call, and whether the call was a repeat."""

    action_id: str
    state: ActionState
    replayed: bool
