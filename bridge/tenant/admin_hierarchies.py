"""The admin API's hierarchy calls: connectors, held deletes, quarantine, AD computers, logs.

`AdminClient` (in `bridge.tenant.admin`) includes these; use that class.
"""

from __future__ import annotations

from urllib.parse import quote

from bridge.tenant.core import ClientCore, ValueList
from bridge.tenant.policy import REFUSED_ONLY
from cloud.contract.attach import (
    ConnectorOut,
    DeleteReleaseOut,
    DeleteReleaseRequest,
    HeldDeletesOut,
    HierarchyOut,
)
from cloud.contract.authority_views import AuthorityLogPage
from cloud.contract.connector_audit import ConnectorAuditLogOut
from cloud.contract.directory import DirectoryComputersOut
from cloud.contract.quarantine import QuarantineOut


class AdminHierarchyCalls(ClientCore):
    """The tenant's hierarchies and what their connectors reported, as typed async calls."""

    async def list_hierarchies(self) -> list[HierarchyOut]:
        """Hierarchies attached to the tenant, with heartbeat, status and device counts."""
        listing = await self._call(
            "list_hierarchies", "GET", "api", "/api/v1/hierarchies", ValueList[HierarchyOut]
        )
        return listing.value

    async def list_connectors(self) -> list[ConnectorOut]:
        """Enrolled connectors and their current certificates."""
        listing = await self._call(
            "list_connectors", "GET", "api", "/api/v1/connectors", ValueList[ConnectorOut]
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
            ValueList[DeleteReleaseOut],
        )
        return listing.value

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

    async def connector_audit_log(
        self,
        hierarchy_id: str,
        *,
        top: int = 100,
        before: int | None = None,
        chain: str | None = None,
    ) -> ConnectorAuditLogOut:
        """A page of one of the hierarchy's audit chains (default: the current one), newest first.

        With the chain's status, the list of the hierarchy's chains and its last refused upload.
        """
        params = {"$top": str(top)}
        if before is not None:
            params["before"] = str(before)
        if chain is not None:
            params["chain"] = chain
        path = f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/auditLog"
        return await self._call(
            "connector_audit_log", "GET", "api", path, ConnectorAuditLogOut, params=params
        )


def _authority(hierarchy_id: str) -> str:
    return f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/authority"


def _held(hierarchy_id: str) -> str:
    return f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/held-deletes"
