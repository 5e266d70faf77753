"""Helpers for admin center tests: tenants with password users, devices, connectors, forms."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import aiohttp

from cloud.contract.admin import Role
from cloud.contract.attach import ConnectorStatus, Heartbeat
from cloud.service import bootstrap
from cloud.service.state import ServiceState
from cloud.store.ingest import apply_batch
from tests.support.cloud_service import RunningService
from tests.support.quarantine_reports import refused
from tests.support.quarantine_reports import report as quarantine_report
from tests.support.store_records import batch, make_hierarchy, record
from tests.support.tenant_clients import admin_client, connector_for, group

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass(frozen=True)
class Tenant:
    """A tenant with one user per role (all with `PASSWORD`), named after the tenant."""

    tenant_id: str
    name: str

    def user(self, role: Role) -> str:
        """The user name of the tenant's principal with `role`."""
        return f"{self.name}-{role.value}"


async def tenant_with_users(state: ServiceState, name: str | None = None) -> Tenant:
    """A new tenant with a viewer, an operator and an admin who can sign in."""
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    tenant_id = await bootstrap.create_tenant(state, name)
    for role in Role:
        await bootstrap.create_admin(
            state, tenant_id, f"{name}-{role.value}", role, password=PASSWORD
        )
    return Tenant(tenant_id, name)


async def seed_devices(state: ServiceState, tenant_id: str, count: int, site: str = "PS1") -> None:
    """`count` attached devices in one hierarchy: WKS00001.. with varied OS, health and flags."""
    async with state.engine.begin() as conn:
        hierarchy = await make_hierarchy(conn, tenant_id, f"H-{site}", site)
        records = [
            record(
                n,
                os_build="10.0.22631" if n % 2 else "10.0.19045",
                health_evaluation=("pass", "fail", "unknown")[n % 3],
                collections=["SMS00001", "PS100010"] if n % 4 == 0 else ["SMS00001"],
                # Every fourth device co-managed with compliance and client apps on the
                # cloud, reporting a field-seen high bit as well.
                comanagement={
                    "mdm_enrolled": True,
                    "policy_present": True,
                    "workload_flags": 1 + 2 + 64 + 0x1000,
                }
                if n % 4 == 0
                else None,
            )
            for n in range(1, count + 1)
        ]
        await apply_batch(
            conn,
            tenant_id,
            batch(hierarchy, 1, records),
            digest=uuid.uuid4().hex,
            now=state.clock(),
        )


def new_session() -> aiohttp.ClientSession:
    """A client keeping cookies for an IP-address host (which aiohttp's jar refuses by default)."""
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(ssl=False),
    )


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(
    session: aiohttp.ClientSession, base: str, tenant: str, user: str, password: str
) -> tuple[int, str]:
    """Post the sign-in form as a browser would; (status, Location or page text)."""
    async with session.get(f"{base}/sign-in") as page:
        token = csrf_of(await page.text())
    form = {"csrf": token, "tenant": tenant, "user": user, "password": password, "next": ""}
    async with session.post(f"{base}/sign-in", data=form, allow_redirects=False) as answer:
        if answer.status == 303:
            return answer.status, answer.headers["Location"]
        return answer.status, await answer.text()


@dataclass
class Attached:
    """A tenant with users of each role, an admin API token and one reporting hierarchy."""

    tenant: Tenant
    token: str
    hierarchy_id: str


async def attached(service: RunningService, hierarchy_id: str = "H-PS1") -> Attached:
    """A tenant whose connector sent a heartbeat with a status, two held cycles and a quarantine.

    The quarantine: 1,500 records in all (1,200 `disputed`-kind, 300
    `invalid_guid`), of which the report lists 60: 40 `invalid_guid` (WKS00000..)
    and 20 `shared_smsid` (WKS00040..), newest last.
    """
    tenant = await tenant_with_users(service.state)
    _, token = await bootstrap.create_token(
        service.state, tenant.tenant_id, tenant.user(Role.ADMIN), 30
    )
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, hierarchy_id)
        async with enrolled.client as connector:
            status = ConnectorStatus(site_devices=1234, backlog=7, lag_seconds=12.5)
            report = [group("c1", 600, 1, 2), group("c2", 40, 3)]
            quarantine = quarantine_report(
                [
                    refused(n, "invalid_guid" if n < 40 else "shared_smsid", minutes=n)
                    for n in range(60)
                ],
                {"invalid_guid": 300, "shared_smsid": 1200},
            )
            await connector.heartbeat(
                Heartbeat(
                    connector_version="9.8.7",
                    status=status,
                    held_deletes=report,
                    quarantine=quarantine,
                )
            )
    return Attached(tenant, token, hierarchy_id)
