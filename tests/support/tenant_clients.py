"""A tenant's clients on the running service: an admin's, an enrolled connector's; its audit trail; held-delete groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from cloud.contract import tls
from cloud.contract.attach import HeldDeleteGroup, HeldDeviceRef, HierarchyRegistration
from tests.support.cloud_service import RunningService, new_key_and_csr
from tests.support.store_records import smsid

HELD_AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def group(cycle_id: str, count: int, *numbers: int) -> HeldDeleteGroup:
    """A cycle's held deletes with a sample of the given device numbers."""
    sample = [HeldDeviceRef(smsid=smsid(n), name=f"WKS{n:05d}") for n in numbers]
    return HeldDeleteGroup(cycle_id=cycle_id, count=count, held_at=HELD_AT, sample=sample)


def admin_client(service: RunningService, token: str) -> AdminClient:
    """A client of the admin API with `token`."""
    return AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token)


@dataclass
class Connector:
    """An enrolled connector of a registered hierarchy: a client, and a raw session."""

    client: ConnectorClient
    connector_id: str
    session: aiohttp.ClientSession


async def connector_for(
    service: RunningService, admin: AdminClient, hierarchy_id: str
) -> Connector:
    """An enrolled connector whose hierarchy is registered."""
    code = await admin.create_attach_code(hierarchy_id=hierarchy_id)
    key_pem, csr = new_key_and_csr()
    async with ConnectorClient(None, service.connector_url, ca_pem=service.root_pem) as anonymous:
        enrolled = await anonymous.enroll(code.code, csr, hierarchy_id, "PS1", "1.0")
    chain = (enrolled.certificate_pem + enrolled.ca_chain_pem).encode()
    connector = anonymous.with_certificate(chain, key_pem)
    await connector.register_hierarchy(
        HierarchyRegistration(hierarchy_id=hierarchy_id, site_code="PS1")
    )
    session = service.session(ssl_context=tls.client_context(service.root_pem, chain, key_pem))
    return Connector(connector, enrolled.connector_id, session)


async def audit_entries(service: RunningService, token: str) -> list[dict[str, Any]]:
    """The tenant's audit log of held-delete actions, oldest first."""
    async with service.session(token=token).get(f"{service.api_url}/api/v1/auditLog") as r:
        assert r.status == 200, await r.text()
        entries = (await r.json())["value"]
    return [e for e in reversed(entries) if e["action"].startswith("held_deletes.")]
