"""The co-management fleet: its clients, switches and crashes."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.arbiter.ports import SideChannel, SideUnreachable
from bridge.tenant.checkin import CheckInClient
from cloud.contract.devices import DeviceQuery
from tests.support.cloud_service import RunningService
from tests.support.sync_rig import Rig
from workloads.messages import Command, Reply

FLEET = 12  # simulated devices (co-managed, with an Entra id)


class Switch:
    """A side channel that can be cut off, or crash the connector after applying."""

    def __init__(self, inner: SideChannel) -> None:
        self.inner = inner
        self.side = inner.side
        self.cut = False
        self.crash_after_apply = False

    async def send(self, commands: Sequence[Command]) -> list[Reply]:
        """Pass through, unless cut off (unreachable) or set to crash after applying."""
        if self.cut:
            raise SideUnreachable(f"the {self.side} side is cut off")
        replies = await self.inner.send(commands)
        if self.crash_after_apply:
            self.crash_after_apply = False
            raise Crash
        return replies


class Crash(BaseException):
    """The connector process dies."""


async def fleet_clients(rig: Rig, service: RunningService) -> dict[str, CheckInClient]:
    """Check-in clients for co-managed devices of the tenant that have an Entra id."""
    page = await rig.admin.list_devices(DeviceQuery(managed_by="Co-managed", top=200))
    chosen = [d for d in page.value if d.get("azureADDeviceId")][:FLEET]
    clients = {}
    for device in chosen:
        credential = await rig.admin.issue_checkin_credential(device["id"])
        clients[device["smsid"]] = CheckInClient(
            service.api_url, None, ca_pem=service.root_pem, token=credential.secret
        )
    return clients
