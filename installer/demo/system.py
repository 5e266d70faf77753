"""The demo system: an embedded site, the cloud service and a connector on one machine.

`DemoSystem` seeds (once) an embedded site, starts the cloud tenant service
in this process, creates a tenant with an admin, a token and an attach code
(kept in `demo.json`, 0600, so a second start reuses them), writes a
connector configuration and starts the connector against the service over
real HTTPS with mutual TLS. `verify()` compares, device by device, what the
tenant holds with what the site should have uploaded: every valid live
record, less the ones the connector quarantined.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bridge.runtime.runner import ConnectorRunner
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from bridge.tenant.admin import AdminClient
from cloud.contract.admin import Role
from cloud.contract.devices import DeviceQuery
from cloud.server.app import running
from cloud.service import bootstrap
from cloud.service.settings import CloudSettings
from cloud.service.state import ServiceState, open_state
from installer.demo.site_generator import seed_site
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_records import SiteDevice
from onprem.site_schema import v_R_System
from onprem.site_store import migrate_site
from workloads.catalog import Workload
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting

TENANT = "demo"
ADMIN = "demo-admin"


@dataclass
class DemoCredentials:
    """What the demo created in the tenant (and keeps in demo.json)."""

    tenant_id: str
    token: str
    # The admin center password of the demo admin (user ADMIN of tenant TENANT).
    password: str


def _new_password() -> str:
    """A generated admin center password (about 128 random bits, easy to copy)."""
    return secrets.token_urlsafe(16)


# The demo site's co-management: compliance policies on the cloud for every
# co-managed device, client apps piloted with one collection; the connector's
# arbiter hands them off after its first cycle (`cobridge workloads` changes them).
DEMO_PILOT_COLLECTION = "PS100014"
DEMO_CO_MANAGEMENT = (
    CoManagementSettings(enabled=True)
    .with_workload(Workload.COMPLIANCE, WorkloadSetting(slider=Slider.CLOUD))
    .with_workload(
        Workload.CLIENT_APPS,
        WorkloadSetting(slider=Slider.PILOT, pilot_collection=DEMO_PILOT_COLLECTION),
    )
)


@dataclass
class Verification:
    """The tenant's devices against the site's: exact equality, or what differs."""

    site_devices: int
    expected: int
    attached: int
    quarantined: int
    rejected: int
    missing: list[str]
    unexpected: list[str]

    @property
    def exact(self) -> bool:
        """Whether the tenant holds exactly what the site should have uploaded."""
        return not self.missing and not self.unexpected


def seed_embedded_site(path: Path, devices: int, seed: int, *, reset: bool) -> int:
    """Seed the embedded site unless it holds devices already; the devices it holds."""
    engine = create_site_engine(f"sqlite:///{path}")
    try:
        migrate_site(engine)
        with engine.connect() as conn:
            existing = conn.execute(sa.select(sa.func.count()).select_from(v_R_System)).scalar_one()
        if reset or existing == 0:
            as_of = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            seed_site(engine, devices=devices, seed=seed, as_of=as_of, replace=True)
            EmbeddedSiteAuthority(engine).write_settings(
                DEMO_CO_MANAGEMENT, changed_by="demo", now=datetime.now(UTC)
            )
            with engine.connect() as conn:
                existing = conn.execute(
                    sa.select(sa.func.count()).select_from(v_R_System)
                ).scalar_one()
        return int(existing)
    finally:
        engine.dispose()


class DemoSystem:
    """The whole system on embedded defaults, in one process."""

    def __init__(
        self, data_dir: Path, *, api_port: int, connector_port: int, interval: float
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.site_path = self.data_dir / "site.db"
        self.api_port = api_port
        self.connector_port = connector_port
        self.interval = interval
        self.api_url = ""
        self.credentials: DemoCredentials | None = None
        self.runner: ConnectorRunner | None = None
        self.connector_task: asyncio.Task[int] | None = None
        self.config_path = self.data_dir / "connector.toml"
        self._state: ServiceState | None = None

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[DemoSystem]:
        """Serve the cloud service and run the connector while open."""
        settings = CloudSettings(
            data_dir=self.data_dir / "cloud", port=self.api_port, connector_port=self.connector_port
        )
        state = await asyncio.to_thread(open_state, settings)
        self._state = state
        try:
            async with running(state) as (api_port, connector_port):
                self.api_url = f"https://127.0.0.1:{api_port}"
                self.credentials = await self._credentials(state)
                await self._write_config(state, f"https://127.0.0.1:{connector_port}")
                self.runner = ConnectorRunner(ConnectorSettings.load(self.config_path))
                self.connector_task = asyncio.create_task(self.runner.run())
                try:
                    yield self
                finally:
                    self.runner.stop()
                    await asyncio.gather(self.connector_task, return_exceptions=True)
        finally:
            await state.engine.dispose()

    async def wait_first_cycle(self, timeout: float) -> None:
        """Wait for the connector's first cycle; raises if the connector stops first."""
        assert self.runner is not None
        assert self.connector_task is not None
        first = asyncio.create_task(self.runner.first_cycle.wait())
        done, _ = await asyncio.wait(
            {first, self.connector_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        first.cancel()
        if self.connector_task in done:
            self.connector_task.result()  # raises the connector's error
            raise RuntimeError("the connector stopped before its first cycle")
        if not done:
            raise TimeoutError(f"no sync cycle finished within {timeout:.0f} s")

    def admin_client(self) -> AdminClient:
        """An admin API client with the demo token."""
        assert self.credentials is not None
        assert self._state is not None
        return AdminClient(
            self.api_url, None, ca_pem=self._state.root.cert_pem, token=self.credentials.token
        )

    async def verify(self) -> Verification:
        """Compare the tenant's devices with the site's, device by device."""
        assert self.runner is not None
        expected, site_devices, rejected = await asyncio.to_thread(self._site_smsids)
        quarantined = await asyncio.to_thread(self._quarantined_smsids)
        expected -= quarantined
        attached: set[str] = set()
        async with self.admin_client() as admin:
            async for device in admin.iter_devices(DeviceQuery(top=1000)):
                smsid = device.get("smsid")
                if isinstance(smsid, str):
                    attached.add(smsid)
        return Verification(
            site_devices=site_devices,
            expected=len(expected),
            attached=len(attached),
            quarantined=len(quarantined),
            rejected=rejected,
            missing=sorted(expected - attached)[:20],
            unexpected=sorted(attached - expected)[:20],
        )

    def _site_smsids(self) -> tuple[set[str], int, int]:
        engine = create_site_engine(f"sqlite:///{self.site_path}")
        try:
            read = SiteReader(engine).read()
            live: set[str] = set()
            records = rejected = 0
            for item in read:
                if isinstance(item, SiteDevice):
                    records += 1
                    if item.live:
                        live.add(item.smsid)
                else:
                    rejected += 1
            return live, records, rejected
        finally:
            engine.dispose()

    def _quarantined_smsids(self) -> set[str]:
        with ConnectorState.open(None, data_dir=self.data_dir / "connector") as state:
            return {e.smsid for e in state.quarantine.entries(limit=1_000_000) if e.smsid}

    async def _credentials(self, state: ServiceState) -> DemoCredentials:
        path = self.data_dir / "demo.json"
        if path.exists():
            saved = json.loads(path.read_text())
            if "password" in saved:
                return DemoCredentials(saved["tenant_id"], saved["token"], saved["password"])
            # Made before the admin center had sign-in: give the admin a password now.
            credentials = DemoCredentials(saved["tenant_id"], saved["token"], _new_password())
            await bootstrap.set_password(state, credentials.tenant_id, ADMIN, credentials.password)
        else:
            password = _new_password()
            tenant_id = await bootstrap.create_tenant(state, TENANT)
            await bootstrap.create_admin(state, tenant_id, ADMIN, Role.ADMIN, password=password)
            _, token = await bootstrap.create_token(state, tenant_id, ADMIN, 30)
            credentials = DemoCredentials(tenant_id, token, password)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {
                    "tenant_id": credentials.tenant_id,
                    "token": credentials.token,
                    "admin": ADMIN,
                    "password": credentials.password,
                },
                handle,
            )
        return credentials

    async def _write_config(self, state: ServiceState, connector_url: str) -> None:
        assert self.credentials is not None
        code_line = ""
        if not (self.data_dir / "connector" / "connector.pem").exists():
            code = await bootstrap.create_attach_code(state, self.credentials.tenant_id, 1, None)
            code_line = f'attach_code = "{code}"'
        config = f"""# Written by `cobridge demo`: the demo connector's settings.
data_dir = "{self.data_dir / "connector"}"

[site]
db = "{self.site_path}"

[cloud]
connector_url = "{connector_url}"
api_url = "{self.api_url}"
ca_file = "{self.data_dir / "cloud" / "service-root.pem"}"
{code_line}

[sync]
interval_seconds = {self.interval}
heartbeat_seconds = 10

[observability]
metrics_port = 0
log_level = "warning"
"""
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(config)
