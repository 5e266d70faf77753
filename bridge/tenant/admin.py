"""Admin calls of the cloud client (API listener, bearer token), and its typed call.

`CloudClient` (in `bridge.tenant.connector`) adds the connector's calls to these; use
that class, not this one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel
from yarl import URL

from bridge.tenant.core import ClientCore, Params, Target
from bridge.tenant.errors import CloudProtocolError
from bridge.tenant.policy import IDEMPOTENT, REFUSED_ONLY, RetryPolicy
from cloud.contract.admin import AttachCodeCreate, AttachCodeCreated, Me, TokenCreate, TokenCreated
from cloud.contract.attach import (
    ConnectorOut,
    DeleteReleaseOut,
    DeleteReleaseRequest,
    HeldDeletesOut,
    HierarchyOut,
)
from cloud.contract.authority_checkin import CheckInCredentialOut
from cloud.contract.authority_views import AuthorityLogPage, DeviceAuthorityOut, WorkloadCountsOut
from cloud.contract.devices import DeviceDetail, DevicePage, DeviceQuery
from cloud.contract.directory import DirectoryComputersOut
from cloud.contract.quarantine import QuarantineOut

M = TypeVar("M", bound=BaseModel)


class _Values(BaseModel, Generic[M]):
    """A list answer: `{"value": [...]}`."""

    value: list[M]


class AdminCalls(ClientCore):
    """The admin API as typed async calls; the base of `CloudClient`."""

    async def _call(
        self,
        operation: str,
        method: str,
        target: Target,
        path: str,
        model: type[M],
        *,
        send: BaseModel | None = None,
        params: Params | None = None,
        policy: RetryPolicy = IDEMPOTENT,
    ) -> M:
        """One JSON call: `send` as the body, the answer parsed as `model`."""
        body = send.model_dump_json(by_alias=True).encode() if send is not None else None
        reply = await self._request(
            operation, method, target, path, body=body, params=params, policy=policy
        )
        return self._decode(operation, reply, model)

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

    async def list_hierarchies(self) -> list[HierarchyOut]:
        """Hierarchies attached to the tenant, with heartbeat, status and device counts."""
        listing = await self._call(
            "list_hierarchies", "GET", "api", "/api/v1/hierarchies", _Values[HierarchyOut]
        )
        return listing.value

    async def list_connectors(self) -> list[ConnectorOut]:
        """Enrolled connectors and their current certificates."""
        listing = await self._call(
            "list_connectors", "GET", "api", "/api/v1/connectors", _Values[ConnectorOut]
        )
        return listing.value

    async def revoke_connector(self, connector_id: str) -> None:
        """Revoke a connector and its certificates, effective on its next call."""
        await self._request(
            "revoke_connector",
            "POST",
            "api",
            f"/api/v1/connectors/{quote(connector_id, safe='')}/revoke",
            policy=REFUSED_ONLY,
        )

    async def held_deletes(self, hierarchy_id: str) -> HeldDeletesOut:
        """The deletes the hierarchy's connector last reported held, by cycle."""
        return await self._call("held_deletes", "GET", "api", _held(hierarchy_id), HeldDeletesOut)

    async def quarantine(
        self, hierarchy_id: str, *, reason: str | None = None, top: int = 100, skip: int = 0
    ) -> QuarantineOut:
        """The records the hierarchy's connector last reported quarantined (newest first)."""
        params: dict[str, str] = {"$top": str(top), "$skip": str(skip)}
        if reason is not None:
            params["reason"] = reason
        path = f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/quarantine"
        return await self._call("quarantine", "GET", "api", path, QuarantineOut, params=params)

    async def directory_computers(
        self,
        hierarchy_id: str,
        *,
        state: str = "all",
        search: str | None = None,
        top: int = 100,
        skip: int = 0,
    ) -> DirectoryComputersOut:
        """The hierarchy's AD computers by name (`state`: all, noAgent, matched, ...)."""
        params: dict[str, str] = {"state": state, "$top": str(top), "$skip": str(skip)}
        if search is not None:
            params["search"] = search
        path = f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/directoryComputers"
        return await self._call(
            "directory_computers", "GET", "api", path, DirectoryComputersOut, params=params
        )

    async def release_held_deletes(
        self, hierarchy_id: str, cycle_id: str | None = None
    ) -> DeleteReleaseOut:
        """Order the connector to let one cycle's held deletes through (None: all of them).

        Not retried once it may have reached the service: while the first
        order is pending an equal one returns it, but once the connector has
        applied it a repeat would release what is held by then.
        """
        return await self._call(
            "release_held_deletes",
            "POST",
            "api",
            f"{_held(hierarchy_id)}/release",
            DeleteReleaseOut,
            send=DeleteReleaseRequest(cycle_id=cycle_id),
            policy=REFUSED_ONLY,
        )

    async def delete_releases(self, hierarchy_id: str) -> list[DeleteReleaseOut]:
        """The hierarchy's release orders, newest first, with when each was applied."""
        listing = await self._call(
            "delete_releases",
            "GET",
            "api",
            f"{_held(hierarchy_id)}/releases",
            _Values[DeleteReleaseOut],
        )
        return listing.value

    async def list_devices(self, query: DeviceQuery | None = None) -> DevicePage:
        """One page of the tenant's devices (filters, sort, `$select`, `$top`, `$skiptoken`)."""
        return await self._call(
            "list_devices",
            "GET",
            "api",
            "/api/v1/devices",
            DevicePage,
            params=_query_params(query or DeviceQuery()),
        )

    async def iter_devices(
        self, query: DeviceQuery | None = None
    ) -> AsyncIterator[dict[str, object]]:
        """Every device matching `query`, page after page, following `@odata.nextLink`.

        Only the link's query (filters and skip token) is used, sent to this
        client's own API URL: the token never goes to a host the link names.
        """
        params: Params = _query_params(query or DeviceQuery())
        seen: set[str] = set()
        while True:
            page = await self._call(
                "iter_devices", "GET", "api", "/api/v1/devices", DevicePage, params=params
            )
            for item in page.value:
                yield item
            if page.next_link is None:
                return
            following = URL(page.next_link).query
            token = following.get("$skiptoken")
            if token is None or token in seen:
                raise CloudProtocolError(
                    "iter_devices: the next page link has no new $skiptoken; stopping"
                )
            seen.add(token)
            params = list(following.items())

    async def device(self, device_id: str) -> DeviceDetail:
        """One device with its collections and sync history."""
        return await self._call(
            "device", "GET", "api", f"/api/v1/devices/{quote(device_id, safe='')}", DeviceDetail
        )

    async def device_authority(self, device_id: str) -> DeviceAuthorityOut:
        """Who holds each workload of one device: the arbiter's record, the cloud gate's, conflicts."""
        path = f"/api/v1/devices/{quote(device_id, safe='')}/authority"
        return await self._call("device_authority", "GET", "api", path, DeviceAuthorityOut)

    async def workload_counts(self) -> WorkloadCountsOut:
        """Per workload: devices settled on each side, in a handoff, in conflict; cloud grants."""
        return await self._call(
            "workload_counts", "GET", "api", "/api/v1/workloads", WorkloadCountsOut
        )

    async def authority_deliveries(
        self, hierarchy_id: str, since: int = 0, top: int = 1000
    ) -> AuthorityLogPage:
        """A page of the hierarchy's check-in deliveries after sequence `since`."""
        return await self._call(
            "authority_deliveries",
            "GET",
            "api",
            f"{_authority(hierarchy_id)}/deliveries",
            AuthorityLogPage,
            params={"since": str(since), "$top": str(top)},
        )

    async def authority_gate_log(
        self, hierarchy_id: str, since: int = 0, top: int = 1000
    ) -> AuthorityLogPage:
        """A page of the grants and revokes the cloud gate applied for the hierarchy, after `since`."""
        return await self._call(
            "authority_gate_log",
            "GET",
            "api",
            f"{_authority(hierarchy_id)}/gateLog",
            AuthorityLogPage,
            params={"since": str(since), "$top": str(top)},
        )

    async def issue_checkin_credential(self, device_id: str) -> CheckInCredentialOut:
        """A new check-in secret for the device, shown only in this answer.

        Not retried once it may have reached the service: a second issue
        would revoke the secret the first one returned.
        """
        return await self._call(
            "issue_checkin_credential",
            "POST",
            "api",
            f"/api/v1/devices/{quote(device_id, safe='')}/checkinCredential",
            CheckInCredentialOut,
            policy=REFUSED_ONLY,
        )

    async def export_devices_csv(self, query: DeviceQuery | None = None) -> AsyncIterator[str]:
        """The filtered device list as CSV text, chunk by chunk, as the service streams it.

        `$top` and `$skiptoken` do not apply: the export is the whole result. A
        stream that breaks off raises `CloudUnavailable` (not retried, since
        chunks were already handed out). Leaving early: wrap the iterator in
        `contextlib.aclosing` so the connection is released at once.
        """
        reply = await self._request(
            "export_devices_csv",
            "GET",
            "api",
            "/api/v1/devices/export",
            params=_query_params(query or DeviceQuery()),
            headers={"Accept": "text/csv"},
            stream=True,
        )
        chunks = self._text_chunks("export_devices_csv", reply, expect="text/csv")
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk


def _authority(hierarchy_id: str) -> str:
    return f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/authority"


def _held(hierarchy_id: str) -> str:
    return f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/held-deletes"


def _query_params(query: DeviceQuery) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in query.model_dump(mode="json", by_alias=True, exclude_none=True).items():
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, list):
            params[key] = ",".join(value)
        else:
            params[key] = str(value)
    return params
