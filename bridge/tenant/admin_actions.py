"""The admin API's device-action calls: the catalogue, actions, bulk actions, scripts.

`AdminClient` (in `bridge.tenant.admin`) includes these; use that class. The
connector's side of the relay (claim, mark running, report) is
`ConnectorClient`'s.
"""

from __future__ import annotations

from urllib.parse import quote

from bridge.tenant.core import ClientCore, ValueList
from bridge.tenant.policy import IDEMPOTENT, REFUSED_ONLY, RetryPolicy
from cloud.contract.action_bulk import BulkActionRequest, BulkCreated, BulkPreview, BulkSelection
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


class AdminActionCalls(ClientCore):
    """Device actions and scripts as typed async calls (API listener); a base of `AdminClient`."""

    async def action_catalogue(self) -> list[CatalogueEntry]:
        """The actions the tenant offers."""
        answer = await self._call(
            "action_catalogue", "GET", "api", "/api/v1/actionCatalogue", ValueList[CatalogueEntry]
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
            "list_scripts", "GET", "api", "/api/v1/scripts", ValueList[ScriptOut]
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
