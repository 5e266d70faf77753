"""A tenant whose connector sent cloud gate grants and reported its arbiter's records."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.contract.admin import Role
from cloud.contract.authority import AuthorityCommand, AuthorityState
from cloud.service import bootstrap
from tests.support.admin_center import Tenant, tenant_with_users
from tests.support.authority_world import aad, grant, revoke, state
from tests.support.cloud_service import RunningService
from tests.support.store_records import batch, record
from tests.support.tenant_clients import admin_client, connector_for
from workloads.catalog import Holder, Workload
from workloads.handoff import Phase

C, APPS, OFFICE, CONFIG, WU = (
    Workload.COMPLIANCE,
    Workload.CLIENT_APPS,
    Workload.OFFICE_APPS,
    Workload.DEVICE_CONFIGURATION,
    Workload.WINDOWS_UPDATE,
)

# Device 5 is never reported: every workload on the site at epoch 0.
NUMBERS = [1, 2, 3, 4, 5]


COMMANDS = [grant(1, C, 1), grant(3, OFFICE, 1), grant(3, CONFIG, 2), revoke(3, CONFIG, 3)]


STATES = [
    state(1, C, 1, holder=Holder.CLOUD, desired=Holder.CLOUD),
    state(1, APPS, 0),
    state(2, C, 1, phase=Phase.REVOKING, target=Holder.CLOUD, desired=Holder.CLOUD),
    # The arbiter says the cloud holds, the gate has no grant: the service's conflict.
    state(2, CONFIG, 2, holder=Holder.CLOUD, desired=Holder.CLOUD),
    # Drift the arbiter observed itself.
    state(3, C, 2, conflict="site_applying_without_grant"),
    # The site holds at 1 by the record, yet the cloud gate holds at 1.
    state(3, OFFICE, 1),
    # The gate is ahead of the report (revoked at 3): a handoff, not drift.
    state(3, CONFIG, 2, holder=Holder.CLOUD, desired=Holder.CONFIGMGR),
    state(4, WU, 3, holder=None, phase=Phase.GRANTING, target=Holder.CLOUD, desired=Holder.CLOUD),
]


@dataclass
class Reported:
    """A tenant with users of each role, an admin token, and devices whose authority was reported."""

    tenant: Tenant
    token: str
    device_ids: dict[int, str]  # device number -> device id


async def reported_tenant(
    service: RunningService,
    hierarchy_id: str = "H-PS1",
    numbers: list[int] = NUMBERS,
    commands: list[AuthorityCommand] = COMMANDS,
    states: list[AuthorityState] = STATES,
) -> Reported:
    """A new tenant whose connector ingested `numbers`, sent `commands` and reported `states`."""
    tenant = await tenant_with_users(service.state)
    _, token = await bootstrap.create_token(
        service.state, tenant.tenant_id, tenant.user(Role.ADMIN), 30
    )
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, hierarchy_id)
        async with enrolled.client as connector:
            await connector.ingest(
                batch(hierarchy_id, 1, [record(n, aad_device_id=aad(n)) for n in numbers])
            )
            if commands:
                await connector.authority_commands(commands)
            if states:
                await connector.report_authority(states)
        ids = {int(str(d["smsid"])[5:13], 16): str(d["id"]) async for d in admin.iter_devices()}
    return Reported(tenant, token, ids)
