"""Device-action calls of the cloud client: the connector's relay calls and the admin's.

`CloudClient` (in `bridge.tenant.connector`) includes these; use that class. The
connector claims its hierarchy's actions with a long poll (`claim_actions`),
says when it starts one (`mark_running`) and reports how it ended
(`report_action`); both reports are idempotent, so they are retried like any
idempotent call, and their refusals carry stable codes:
`action_finished` (cancelled, expired or ended: do not run it) and
`action_result_conflict` (another result is already recorded).
"""

from __future__ import annotations

from urllib.parse import quote

from bridge.tenant.admin import AdminCalls, _Values
from bridge.tenant.policy import IDEMPOTENT, REFUSED_ONLY, RetryPolicy
from cloud.contract.action_bulk import BulkActionRequest, BulkCreated, BulkPreview, BulkSelection
from cloud.contract.action_relay import (
    MAX_CLAIM,
    MAX_WAIT_SECONDS,
    ActionAck,
    ActionClaim,
    ActionResult,
    ActionStarted,
)
from cloud.contract.actions import (
    ActionListQuery,
    ActionOut,
    ActionPage,
    ActionRequest,
    CatalogueEntry,
    ScriptCreate,
    ScriptDetail,
    ScriptOut,
)

# How much longer than the server's wait a claim attempt may take (its own work, the network).
CLAIM_MARGIN_SECONDS = 15.0


class ActionCalls(AdminCalls):
    """Device actions as typed async calls; a base of `CloudClient`."""

    # Connector calls (connector listener).

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

    # Admin calls (API listener).

    async def action_catalogue(self) -> list[CatalogueEntry]:
        """The actions the tenant offers."""
        answer = await self._call(
            "action_catalogue", "GET", "api", "/api/v1/actionCatalogue", _Values[CatalogueEntry]
        )
        return answer.value

    async def request_action(self, request: ActionRequest) -> ActionOut:
        """Queue an action on one device; with an idempotency key it is retried safely."""
        return await self._call(
            "request_action",
            "POST",
            "api",
            "/api/v1/actions",
            ActionOut,
            send=request,
            policy=self._create_policy(request.idempotency_key),
        )

    async def action(self, action_id: str) -> ActionOut:
        """One action with its state and result."""
        path = f"/api/v1/actions/{quote(action_id, safe='')}"
        return await self._call("action", "GET", "api", path, ActionOut)

    async def list_actions(self, query: ActionListQuery | None = None) -> ActionPage:
        """A page of the tenant's actions, newest first."""
        params = (query or ActionListQuery()).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        return await self._call(
            "list_actions",
            "GET",
            "api",
            "/api/v1/actions",
            ActionPage,
            params={k: str(v) for k, v in params.items()},
        )

    async def cancel_action(self, action_id: str) -> ActionOut:
        """Cancel an action that has not started."""
        path = f"/api/v1/actions/{quote(action_id, safe='')}/cancel"
        return await self._call("cancel_action", "POST", "api", path, ActionOut)

    async def preview_bulk_action(self, selection: BulkSelection) -> BulkPreview:
        """How many devices a bulk action would reach, and the token confirming exactly them."""
        return await self._call(
            "preview_bulk_action",
            "POST",
            "api",
            "/api/v1/bulkActions/preview",
            BulkPreview,
            send=selection,
        )

    async def request_bulk_action(self, request: BulkActionRequest) -> BulkCreated:
        """Queue an action on every device of a confirmed selection."""
        return await self._call(
            "request_bulk_action",
            "POST",
            "api",
            "/api/v1/bulkActions",
            BulkCreated,
            send=request,
            policy=self._create_policy(request.idempotency_key),
        )

    async def approve_script(self, script: ScriptCreate) -> ScriptDetail:
        """Approve a script (admin role)."""
        return await self._call(
            "approve_script",
            "POST",
            "api",
            "/api/v1/scripts",
            ScriptDetail,
            send=script,
            policy=REFUSED_ONLY,
        )

    async def list_scripts(self) -> list[ScriptOut]:
        """The tenant's approved scripts."""
        answer = await self._call(
            "list_scripts", "GET", "api", "/api/v1/scripts", _Values[ScriptOut]
        )
        return answer.value

    async def retire_script(self, script_id: str) -> ScriptOut:
        """Retire a script (admin role); its queued actions are cancelled."""
        path = f"/api/v1/scripts/{quote(script_id, safe='')}/retire"
        return await self._call("retire_script", "POST", "api", path, ScriptOut)

    @staticmethod
    def _create_policy(idempotency_key: str | None) -> RetryPolicy:
        """Retry a create like an idempotent call only when it carries an idempotency key."""
        return IDEMPOTENT if idempotency_key is not None else REFUSED_ONLY
