"""The tenant's action queue as the relay's `ActionSource`, over the connector's cloud client.

Maps the wire contract (`cloud.contract.action_relay`) to the relay's own
records and back:
- an action with a `scheduleId` (every client action) is a `trigger_schedule`;
  `runScript` carries the approved text and its SHA-256; `restart` its delay
  in seconds (the tenant's minutes x 60);
- the device is reached by its FQDN, else by its name in its domain;
- a claim waits whole seconds, at most the service's 60;
- `start` is False when the tenant says the action must not run
  (`action_finished`: cancelled, expired or ended; `not_found`: not this
  hierarchy's);
- a report the tenant refuses because it already holds a result
  (`action_result_conflict`), or because the action ended without one
  (`action_finished`), is acknowledged: reporting it again could never
  change the answer, and the relay would otherwise report it forever.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

from bridge.actions.ports import ActionResult, ClaimedAction
from bridge.settings_actions import MAX_RESULT_CHARS
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudApiError
from cloud.contract import action_relay as wire
from cloud.contract.actions import ActionKind

logger = logging.getLogger(__name__)
# Refusals of a start that mean "do not run it"; of a report that mean "nothing more to tell".
NOT_TO_RUN = frozenset({"action_finished", "not_found"})
ALREADY_SETTLED = frozenset({"action_finished", "action_result_conflict"})
# The tenant keeps this much of an error message.
MAX_MESSAGE_CHARS = 2000


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def device_host(device: wire.ActionTarget) -> str:
    """The name WinRM reaches a device by: its FQDN, else its name in its DNS domain."""
    if device.fqdn:
        return device.fqdn
    if device.domain and "." in device.domain:
        return f"{device.name}.{device.domain}"
    # A NetBIOS domain (CORP) is no DNS suffix: the short name resolves through the search list.
    return device.name


def from_wire(action: wire.ClaimedAction) -> ClaimedAction:
    """The relay's record of an action the tenant handed out."""
    common = {
        "action_id": action.action_id,
        "smsid": action.device.smsid,
        "host": device_host(action.device),
        "expires_at": _aware(action.expires_at),
    }
    if action.schedule_id is not None:
        return ClaimedAction(kind="trigger_schedule", schedule_id=action.schedule_id, **common)
    if action.kind is ActionKind.RUN_SCRIPT:
        script = action.script
        return ClaimedAction(
            kind="run_script",
            script=script.content if script else None,
            script_sha256=script.sha256 if script else None,
            **common,
        )
    if action.kind is ActionKind.RESTART:
        minutes = action.restart_delay_minutes
        return ClaimedAction(
            kind="restart",
            restart_delay_seconds=minutes * 60 if minutes is not None else None,
            **common,
        )
    # A kind this connector does not know: the relay refuses it (invalid_action), unsent.
    return ClaimedAction(kind=str(action.kind), **common)  # type: ignore[arg-type]


def to_wire(result: ActionResult) -> wire.ActionResult:
    """The tenant's form of a result (its own times: started and ended as it saw them)."""
    output = result.output[:MAX_RESULT_CHARS]
    message = result.message[:MAX_MESSAGE_CHARS] if result.message is not None else None
    return wire.ActionResult(
        action_id=result.action_id,
        state=result.state,
        exit_code=result.exit_code,
        return_value=result.return_value,
        output=output,
        output_truncated=result.truncated or len(output) < len(result.output),
        error_code=result.error_code,
        error_message=message,
    )


def _about_the_action(exc: CloudApiError) -> bool:
    # The queue's refusals name the action; "register the hierarchy first" does not.
    return exc.code != "not_found" or exc.target == "actionId"


class CloudActionSource:
    """`ActionSource` over the tenant's connector API (claim, started, result)."""

    def __init__(self, client: ConnectorClient) -> None:
        self._client = client

    async def claim(self, limit: int, wait_seconds: float) -> list[ClaimedAction]:
        """Up to `limit` queued actions (at most 500 a call), long-polling up to 60 s."""
        wait = min(wire.MAX_WAIT_SECONDS, max(0, math.ceil(wait_seconds)))
        answer = await self._client.claim_actions(
            limit=min(wire.MAX_CLAIM, max(1, limit)), wait_seconds=wait
        )
        return [from_wire(action) for action in answer.value]

    async def start(self, action_id: str) -> bool:
        """Mark the action running; False when the tenant says it must not run."""
        try:
            await self._client.mark_running(action_id)
        except CloudApiError as exc:
            if exc.code in NOT_TO_RUN and _about_the_action(exc):
                logger.info("device action %s not started: %s", action_id, exc.code)
                return False
            raise
        return True

    async def report(self, result: ActionResult) -> None:
        """Post the result; returns once the tenant holds a result for the action."""
        try:
            await self._client.report_action(to_wire(result))
        except CloudApiError as exc:
            if exc.code not in ALREADY_SETTLED:
                raise
            # Settled at the tenant (another result, or cancelled/expired first): it stays.
            logger.warning(
                "device action %s: the tenant keeps its own outcome (%s)",
                result.action_id,
                exc.code,
            )
