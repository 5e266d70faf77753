"""The admin's client of the tenant service: the admin API (API listener, bearer token).

For tests, the CLI, automation and the demo. Its calls are grouped by what
they manage: devices (`bridge.tenant.admin_devices`), hierarchies and what
their connectors reported (`admin_hierarchies`), device actions
(`admin_actions`) and rollouts (`admin_rollouts`); the tenant's principals
and codes are here. The connector's calls are `ConnectorClient`'s
(`bridge.tenant.connector`), a device's check-in `CheckInClient`'s.

    async with AdminClient(api_url, None, ca_pem=root, token=token) as admin:
        code = (await admin.create_attach_code()).code
"""

from __future__ import annotations

from bridge.tenant.admin_actions import AdminActionCalls
from bridge.tenant.admin_devices import AdminDeviceCalls
from bridge.tenant.admin_hierarchies import AdminHierarchyCalls
from bridge.tenant.admin_rollouts import AdminRolloutCalls
from bridge.tenant.policy import REFUSED_ONLY
from cloud.contract.admin import AttachCodeCreate, AttachCodeCreated, Me, TokenCreate, TokenCreated

__all__ = ["AdminClient"]


class AdminClient(AdminDeviceCalls, AdminHierarchyCalls, AdminActionCalls, AdminRolloutCalls):
    """The admin API as typed async calls (see `ClientCore` for the settings).

    Retries: reads retry connection errors, timeouts, 429 and 502/503/504;
    calls that create or change something retry only failures to connect and
    429, unless they carry an idempotency key. `stats` records attempts and waits.
    """

    async def me(self) -> Me:
        """The principal behind the token, and its tenant."""
        return await self._call("me", "GET", "api", "/api/v1/me", Me)

    async def create_attach_code(
        self, *, expires_in_hours: int = 24, hierarchy_id: str | None = None
    ) -> AttachCodeCreated:
        """A one-time attach code for a connector installation (shown only in this answer)."""
        request = AttachCodeCreate(expires_in_hours=expires_in_hours, hierarchy_id=hierarchy_id)
        return await self._call(
            "create_attach_code",
            "POST",
            "api",
            "/api/v1/attachCodes",
            AttachCodeCreated,
            send=request,
            policy=REFUSED_ONLY,
        )

    async def create_token(
        self, name: str, *, expires_in_days: int = 90, principal_id: str | None = None
    ) -> TokenCreated:
        """A new API token for the caller, or (admins) for another principal of the tenant."""
        request = TokenCreate(name=name, expires_in_days=expires_in_days, principal_id=principal_id)
        return await self._call(
            "create_token",
            "POST",
            "api",
            "/api/v1/tokens",
            TokenCreated,
            send=request,
            policy=REFUSED_ONLY,
        )
