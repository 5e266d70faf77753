"""Helpers of the authority tests: an attached tenant with devices, commands and states."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from bridge.tenant.admin import AdminClient
from bridge.tenant.checkin import CheckInClient
from bridge.tenant.connector import ConnectorClient
from cloud.contract.authority import AuthorityCommand, AuthorityState
from tests.support.cloud_service import RunningService
from tests.support.store_records import batch, record, smsid
from tests.support.tenant_clients import admin_client, connector_for
from workloads.catalog import Holder, Workload
from workloads.handoff import Phase
from workloads.messages import Op

REPORTED_AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def aad(n: int) -> str:
    """The Entra device id of device number n."""
    return f"{n:08x}-aaaa-4000-8000-{n:012x}"


def grant(n: int, workload: Workload, epoch: int) -> AuthorityCommand:
    """A grant to the cloud for device number n."""
    return AuthorityCommand(op=Op.GRANT, smsid=smsid(n), workload=workload, epoch=epoch)


def revoke(n: int, workload: Workload, epoch: int) -> AuthorityCommand:
    """A revoke from the cloud for device number n."""
    return AuthorityCommand(op=Op.REVOKE, smsid=smsid(n), workload=workload, epoch=epoch)


def state(
    n: int,
    workload: Workload,
    epoch: int,
    *,
    holder: Holder | None = Holder.CONFIGMGR,
    phase: Phase = Phase.HELD,
    target: Holder | None = None,
    desired: Holder = Holder.CONFIGMGR,
    conflict: str | None = None,
) -> AuthorityState:
    """The arbiter's record of device number n's workload."""
    return AuthorityState(
        smsid=smsid(n),
        workload=workload,
        holder=holder,
        epoch=epoch,
        phase=phase,
        target=target,
        desired=desired,
        conflict=conflict,
        updated_at=REPORTED_AT,
    )


@dataclass
class World:
    """A tenant with an admin client, an enrolled connector and attached devices."""

    service: RunningService
    tenant_id: str
    token: str
    hierarchy_id: str
    admin: AdminClient
    connector: ConnectorClient
    raw: aiohttp.ClientSession  # the connector's certificate, for hand-made bodies
    device_ids: dict[int, str]  # device number -> device id

    def device(self, token: str) -> CheckInClient:
        """A client checking in with a device secret."""
        return CheckInClient(self.service.api_url, None, ca_pem=self.service.root_pem, token=token)

    async def secret(self, n: int) -> str:
        """A new check-in secret of device number n."""
        return (await self.admin.issue_checkin_credential(self.device_ids[n])).secret


@contextlib.asynccontextmanager
async def attached(
    service: RunningService, numbers: list[int], hierarchy_id: str = "H-PS1"
) -> AsyncIterator[World]:
    """A new tenant whose connector has ingested devices `numbers` (each with an Entra id)."""
    label = f"auth-{uuid.uuid4().hex[:8]}"
    tenant_id, token = await service.tenant_with_admin(label)
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, hierarchy_id)
        async with enrolled.client as connector:
            records = [record(n, aad_device_id=aad(n)) for n in numbers]
            await connector.ingest(batch(hierarchy_id, 1, records))
            ids = {}
            async for item in admin.iter_devices():
                ids[int(str(item["smsid"])[5:13], 16)] = str(item["id"])
            yield World(
                service,
                tenant_id,
                token,
                hierarchy_id,
                admin,
                connector,
                enrolled.session,
                ids,
            )
