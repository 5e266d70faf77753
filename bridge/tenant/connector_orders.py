"""The connector's order calls: device actions it relays, rollout orders it runs, its audit log.

`ConnectorClient` (in `bridge.tenant.connector`) includes these; use that
class. All go to the connector listener. The connector claims its
hierarchy's actions with a long poll (`claim_actions`), says when it starts
one (`mark_running`) and reports how it ended (`report_action`); both
reports are idempotent, so they are retried like any idempotent call, and
their refusals carry stable codes: `action_finished` (cancelled, expired or
ended: do not run it) and `action_result_conflict` (another result is
already recorded).

It fetches its hierarchy's queued rollout orders (`queued_rollout_orders`),
posts each one's result (`post_rollout_result`, idempotent: the same result
again is answered alike, another one is refused with
`rollout_result_conflict`) and reports its rollout's status
(`report_rollout_status`).

An audit upload (`send_audit_entries`) is idempotent too (entries the
tenant holds with the same hash are skipped); its refusal codes are listed
in `bridge.tenant.audit`, which reads the tenant's head from a gap refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from bridge.tenant.core import ClientCore, ValueList
from cloud.contract.action_relay import (
    MAX_CLAIM,
    MAX_WAIT_SECONDS,
    ActionAck,
    ActionClaim,
    ActionResult,
    ActionStarted,
)
from cloud.contract.connector_audit import (
    AuditEntryIn,
    AuditSignerIn,
    AuditUpload,
    AuditUploadAck,
)
from cloud.contract.rollouts import (
    RolloutOrderAck,
    RolloutOrderOut,
    RolloutOrderResult,
    RolloutStatusAck,
    RolloutStatusReport,
)

# How much longer than the server's wait a claim attempt may take (its own work, the network).
CLAIM_MARGIN_SECONDS = 15.0


class ConnectorOrderCalls(ClientCore):
    """Action relay, rollout orders and audit upload as typed async calls; a base of `ConnectorClient`."""

    # Device actions.

    async def claim_actions(self, limit: int = 50, wait_seconds: int = 25) -> ActionClaim:
        """Claim up to `limit` of this hierarchy's queued actions, waiting up to `wait_seconds`.

        Answers as soon as one is queued, or with an empty `value` when the
        wait is over. Claimed actions are dispatched to this connector; one
        not marked running within the service's lease is offered again
        (`deliveries` > 1), so a lost answer loses nothing. Retried like any
        idempotent call; each attempt may take `wait_seconds` plus a margin.
        """
        if not 1 <= limit <= MAX_CLAIM:
            raise ValueError(f"limit must be between 1 and {MAX_CLAIM}")
        if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
            raise ValueError(f"wait_seconds must be between 0 and {MAX_WAIT_SECONDS}")
        reply = await self._request(
            "claim_actions",
            "POST",
            "connector",
            "/connector/v1/actions/claim",
            params={"limit": str(limit), "wait": str(wait_seconds)},
            timeout_s=max(self._timeout, wait_seconds + CLAIM_MARGIN_SECONDS),
        )
        return self._decode("claim_actions", reply, ActionClaim)

    async def mark_running(self, action_id: str) -> ActionAck:
        """Tell the tenant the action starts now (before running it); a repeat is answered alike.

        Raises `CloudApiError` with code `action_finished` when the action was
        cancelled, expired or ended meanwhile: then it must not be run.
        """
        return await self._call(
            "mark_running",
            "POST",
            "connector",
            "/connector/v1/actions/started",
            ActionAck,
            send=ActionStarted(action_id=action_id),
        )

    async def report_action(self, result: ActionResult) -> ActionAck:
        """Report how an action ended; the same result again is answered as the first time.

        Raises `CloudApiError` with code `action_result_conflict` when another
        result is already recorded, `action_finished` when the action was
        cancelled or expired before any result.
        """
        return await self._call(
            "report_action",
            "POST",
            "connector",
            "/connector/v1/actions/result",
            ActionAck,
            send=result,
        )

    # Rollout orders.

    async def queued_rollout_orders(self) -> list[RolloutOrderOut]:
        """This hierarchy's orders not yet run, oldest first."""
        answer = await self._call(
            "queued_rollout_orders",
            "GET",
            "connector",
            "/connector/v1/rollouts/orders",
            ValueList[RolloutOrderOut],
        )
        return answer.value

    async def post_rollout_result(
        self, order_id: str, result: RolloutOrderResult
    ) -> RolloutOrderAck:
        """Report how an order ended; the same result again is answered as the first time."""
        path = f"/connector/v1/rollouts/orders/{quote(order_id, safe='')}/result"
        return await self._call(
            "post_rollout_result", "POST", "connector", path, RolloutOrderAck, send=result
        )

    async def report_rollout_status(self, report: RolloutStatusReport) -> RolloutStatusAck:
        """Send the rollout's status (kept by the tenant when it changed)."""
        return await self._call(
            "report_rollout_status",
            "POST",
            "connector",
            "/connector/v1/rollouts/status",
            RolloutStatusAck,
            send=report,
        )

    # Audit log.

    async def send_audit_entries(
        self,
        entries: Sequence[AuditEntryIn],
        signers: Sequence[AuditSignerIn] = (),
        *,
        chain_id: str | None = None,
    ) -> AuditUploadAck:
        """Send consecutive entries (at most `MAX_AUDIT_BATCH`) and the signer records not sent.

        `chain_id` is the entry hash of the chain's entry 1 (needed unless the
        batch starts there). The answer gives the chain's status at the
        tenant after the batch.
        """
        return await self._call(
            "audit_entries",
            "POST",
            "connector",
            "/connector/v1/audit/entries",
            AuditUploadAck,
            send=AuditUpload(chain_id=chain_id, signers=list(signers), entries=list(entries)),
        )
