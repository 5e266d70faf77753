"""The admin API's device calls: the device list, one device, its authority, the CSV export.

`AdminClient` (in `bridge.tenant.admin`) includes these; use that class.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import quote

from yarl import URL

from bridge.tenant.core import ClientCore, Params
from bridge.tenant.errors import CloudProtocolError
from bridge.tenant.policy import REFUSED_ONLY
from cloud.contract.authority_checkin import CheckInCredentialOut
from cloud.contract.authority_views import DeviceAuthorityOut, WorkloadCountsOut
from cloud.contract.devices import DeviceDetail, DevicePage, DeviceQuery


class AdminDeviceCalls(ClientCore):
    """The tenant's devices as typed async calls (API listener); a base of `AdminClient`."""

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
