"""A device's client of the tenant service: its check-in, with the device secret as the token.

A device is neither the connector nor an admin: it calls the API listener
with the check-in secret `AdminClient.issue_checkin_credential` issued it.

    async with CheckInClient(api_url, None, ca_pem=root, token=secret) as device:
        held = (await device.check_in()).workloads
"""

from __future__ import annotations

from bridge.tenant.core import ClientCore
from cloud.contract.authority_checkin import CheckInOut

__all__ = ["CheckInClient"]


class CheckInClient(ClientCore):
    """One device's calls to the tenant service (see `ClientCore` for the settings)."""

    async def check_in(self) -> CheckInOut:
        """A device's check-in: the workloads the cloud holds for it, with epochs and policies.

        The client's token must be the device's secret. Retried: a check-in
        changes nothing but the delivery log.
        """
        return await self._call("check_in", "POST", "api", "/device/v1/checkin", CheckInOut)
