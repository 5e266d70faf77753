"""Helpers of the device-action tests: a tenant with role clients, connectors and devices."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from cloud.contract.action_relay import ActionResult
from cloud.contract.actions import ActionRequest, TriggerAction
from cloud.contract.admin import Role
from cloud.contract.attach import HierarchyRegistration
from cloud.service import bootstrap
from tests.support.admin_center import Tenant, tenant_with_users
from tests.support.cloud_service import RunningService, new_key_and_csr
from tests.support.store_records import batch, record
from tests.support.tenant_clients import Connector, admin_client, connector_for

HIERARCHY = "H-PS1"


@dataclass
class ActionWorld:
    """A tenant with a client per role, a connector per hierarchy, and device ids by name."""

    tenant_id: str
    name: str
    clients: dict[Role, AdminClient]
    connectors: dict[str, Connector]
    tokens: dict[Role, str]
    devices: dict[str, str] = field(default_factory=dict)

    @property
    def admin(self) -> AdminClient:
        """The admin's client."""
        return self.clients[Role.ADMIN]

    @property
    def operator(self) -> AdminClient:
        """The operator's client."""
        return self.clients[Role.OPERATOR]

    @property
    def viewer(self) -> AdminClient:
        """The viewer's client."""
        return self.clients[Role.VIEWER]

    def connector(self, hierarchy_id: str = "H-PS1") -> ConnectorClient:
        """The enrolled connector client of `hierarchy_id`."""
        return self.connectors[hierarchy_id].client


def numbered(hierarchy_id: str, numbers: list[int]) -> list:
    """Device records with an FQDN each (WKS00001.corp.example, ...)."""
    return [
        record(n, fqdn=f"WKS{n:05d}.corp.example", netbios_name=f"WKS{n:05d}", domain="CORP")
        for n in numbers
    ]


@contextlib.asynccontextmanager
async def action_world(
    service: RunningService, hierarchies: dict[str, list[int]] | None = None
) -> AsyncIterator[ActionWorld]:
    """A fresh tenant: devices 1-3 in H-PS1 (unless `hierarchies` says otherwise) and one MDM-only."""
    hierarchies = hierarchies or {"H-PS1": [1, 2, 3]}
    name = f"act-{uuid.uuid4().hex[:8]}"
    tenant_id, token = await service.tenant_with_admin(name)
    tokens = {Role.ADMIN: token}
    for role in (Role.OPERATOR, Role.VIEWER):
        tokens[role] = await service.token_for(tenant_id, f"{name}-{role.value}", role)
    clients = {role: admin_client(service, t) for role, t in tokens.items()}
    connectors = {}
    for hierarchy_id, numbers in hierarchies.items():
        connectors[hierarchy_id] = await connector_for(service, clients[Role.ADMIN], hierarchy_id)
        await connectors[hierarchy_id].client.ingest(
            batch(hierarchy_id, 1, numbered(hierarchy_id, numbers))
        )
    world = ActionWorld(tenant_id, name, clients, connectors, tokens)
    # An MDM-only device: no hierarchy, so nothing to act through.
    async with service.session(token=tokens[Role.OPERATOR]).post(
        f"{service.api_url}/api/v1/managedDevices",
        json={"azureAdDeviceId": str(uuid.uuid4()), "deviceName": "MDM-ONLY"},
    ) as r:
        assert r.status == 201, await r.text()
    page = await world.admin.list_devices()
    world.devices = {d["deviceName"]: d["id"] for d in page.value}
    try:
        yield world
    finally:
        for client in clients.values():
            await client.close()
        for connector in connectors.values():
            await connector.client.close()


def trigger(device_id: str, kind: str = "machinePolicyRetrieval", **extra: object) -> ActionRequest:
    """A client-action request for one device."""
    return ActionRequest(device_id=device_id, action=TriggerAction(kind=kind), **extra)  # type: ignore[arg-type]


def succeeded(action_id: str, output: str = "ok") -> ActionResult:
    """A successful TriggerSchedule result."""
    return ActionResult(action_id=action_id, state="succeeded", return_value=0, output=output)


@dataclass
class Made:
    """The tenant, its devices by name, the connector's enrolled identity, an admin token."""

    tenant: Tenant
    devices: dict[str, str]
    connector_url: str
    root_pem: bytes
    chain: bytes
    key: bytes
    token: str


async def attached_devices(service: RunningService) -> Made:
    """A tenant with users of each role whose enrolled connector attached WKS00001-3."""
    tenant = await tenant_with_users(service.state)
    code = await bootstrap.create_attach_code(service.state, tenant.tenant_id, 1, HIERARCHY)
    key, csr = new_key_and_csr()
    async with ConnectorClient(None, service.connector_url, ca_pem=service.root_pem) as anonymous:
        enrolled = await anonymous.enroll(code, csr, HIERARCHY, "PS1", "1.0")
    chain = (enrolled.certificate_pem + enrolled.ca_chain_pem).encode()
    async with anonymous.with_certificate(chain, key) as connector:
        await connector.register_hierarchy(
            HierarchyRegistration(hierarchy_id=HIERARCHY, site_code="PS1")
        )
        await connector.ingest(batch(HIERARCHY, 1, numbered(HIERARCHY, [1, 2, 3])))
    _, token = await bootstrap.create_token(
        service.state, tenant.tenant_id, tenant.user(Role.ADMIN), 1
    )
    async with AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token) as admin:
        page = await admin.list_devices()
    devices = {d["deviceName"]: str(d["id"]) for d in page.value}
    return Made(tenant, devices, service.connector_url, service.root_pem, chain, key, token)
