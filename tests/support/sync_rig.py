"""A connector attached to the real cloud service, in the test's event loop, for engine tests.

`attach()` creates a tenant and an admin, enrolls a connector with an attach
code over HTTPS, registers the hierarchy of a seeded embedded site and
returns a `Rig` with the pieces a test needs: the site engine, the connector
state, the connector's client, an admin client and `engine()` to build a
`SyncEngine`. Site edits (`delete_devices`, `reimage`, `restore_identity`)
write the embedded site's tables directly, as the site's own processes would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bridge.state import ConnectorState
from bridge.sync.engine import SyncEngine, SyncOptions
from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from cloud.contract.attach import HierarchyRegistration
from cloud.contract.devices import DeviceQuery
from installer.demo.site_generator import seed_site
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_records import SiteDevice
from onprem.site_schema import cobridge_site_identity, site_metadata, v_R_System
from onprem.site_store import migrate_site, read_site_identity
from tests.support.cloud_service import RunningService, new_key_and_csr

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def clock() -> datetime:
    """The engine's clock: real time (runs and holds are ordered by it)."""
    return datetime.now(UTC)


def seeded_site(path: Path, devices: int, seed: int = 3) -> sa.Engine:
    """An embedded site with `devices` realistic devices."""
    engine = create_site_engine(f"sqlite:///{path}")
    migrate_site(engine)
    seed_site(engine, devices=devices, seed=seed, as_of=AS_OF, replace=True)
    return engine


@dataclass
class Rig:
    """A site, an attached connector and an admin of its tenant."""

    site: sa.Engine
    state: ConnectorState
    connector: ConnectorClient
    admin: AdminClient
    hierarchy_id: str
    data_dir: Path

    def engine(self, reader: SiteReader | None = None, **options: Any) -> SyncEngine:
        """A sync engine over this rig (options: `SyncOptions` fields)."""
        return SyncEngine(
            reader or SiteReader(self.site, chunk_size=500),
            self.state,
            self.connector,
            self.hierarchy_id,
            SyncOptions(spill_dir=self.data_dir / "spill", **options),
            clock=clock,
        )

    async def tenant_smsids(self) -> set[str]:
        """The SMSIDs the tenant lists (deleted devices are not listed)."""
        found: set[str] = set()
        async for device in self.admin.iter_devices(DeviceQuery(top=1000)):
            smsid = device.get("smsid")
            if isinstance(smsid, str):
                found.add(smsid)
        return found

    def expected_smsids(self) -> set[str]:
        """Every live, valid site record, less what the connector quarantined."""
        live = {
            d.smsid for d in SiteReader(self.site).read() if isinstance(d, SiteDevice) and d.live
        }
        quarantined = {e.smsid for e in self.state.quarantine.entries(limit=100_000) if e.smsid}
        return live - quarantined

    def live_rows(self, limit: int) -> list[sa.Row[Any]]:
        """Live device rows of the site, lowest ResourceIDs first."""
        with self.site.connect() as conn:
            return conn.execute(
                sa.select(v_R_System)
                .where(sa.func.coalesce(v_R_System.c.Obsolete0, 0) == 0)
                .where(sa.func.coalesce(v_R_System.c.Decommissioned0, 0) == 0)
                .order_by(v_R_System.c.ResourceID)
                .limit(limit)
            ).all()

    def delete_devices(self, resource_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
        """Remove devices from the site, every table; the rows removed, to `put_back`."""
        removed: dict[str, list[dict[str, Any]]] = {}
        with self.site.begin() as conn:
            for table in site_metadata.sorted_tables:
                if "ResourceID" in table.c:
                    where = table.c.ResourceID.in_(resource_ids)
                    removed[table.name] = [
                        dict(r._mapping) for r in conn.execute(table.select().where(where))
                    ]
                    conn.execute(table.delete().where(where))
        return removed

    def put_back(self, removed: dict[str, list[dict[str, Any]]], resource_id: int) -> None:
        """Restore one removed device's rows."""
        with self.site.begin() as conn:
            for table in site_metadata.sorted_tables:
                rows = [r for r in removed.get(table.name, []) if r["ResourceID"] == resource_id]
                if rows:
                    conn.execute(table.insert(), rows)

    def reimage(self, resource_id: int) -> str:
        """Re-image a device: the old record goes obsolete, a new one (new SMSID) takes over."""
        new_rid = 90_000_000 + resource_id
        new_smsid = f"GUID:{str(uuid.uuid4()).upper()}"
        with self.site.begin() as conn:
            for table in site_metadata.sorted_tables:
                if "ResourceID" not in table.c:
                    continue
                for row in conn.execute(table.select().where(table.c.ResourceID == resource_id)):
                    values = dict(row._mapping) | {"ResourceID": new_rid}
                    if table is v_R_System:
                        values["SMS_Unique_Identifier0"] = new_smsid
                        values["AADDeviceID"] = None
                    conn.execute(table.insert().values(values))
            conn.execute(
                v_R_System.update()
                .where(v_R_System.c.ResourceID == resource_id)
                .values(Obsolete0=1)
            )
        return new_smsid

    def restore_identity(self) -> str:
        """Give the site a new instance id, as a restore from backup does; the new id."""
        instance = str(uuid.uuid4())
        with self.site.begin() as conn:
            conn.execute(cobridge_site_identity.update().values(instance_id=instance))
        return instance


async def attach(
    service: RunningService, site: sa.Engine, data_dir: Path, *, state_db: str | None = None
) -> Rig:
    """Attach a connector for `site` to a new tenant of `service`."""
    identity = read_site_identity(site)
    hierarchy_id = identity.hierarchy_id or "H-TEST"
    _, token = await service.tenant_with_admin(f"t-{uuid.uuid4().hex[:8]}")
    admin = AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token)
    code = await admin.create_attach_code(hierarchy_id=hierarchy_id)
    key_pem, csr = new_key_and_csr()
    async with ConnectorClient(None, service.connector_url, ca_pem=service.root_pem) as anonymous:
        enrolled = await anonymous.enroll(code.code, csr, hierarchy_id, "PS1", "test")
        connector = anonymous.with_certificate(
            (enrolled.certificate_pem + enrolled.ca_chain_pem).encode(), key_pem
        )
    await connector.register_hierarchy(
        HierarchyRegistration(hierarchy_id=hierarchy_id, site_code="PS1")
    )
    state = ConnectorState.open(state_db, data_dir=data_dir)
    return Rig(site, state, connector, admin, hierarchy_id, data_dir)


async def close(rig: Rig) -> None:
    """Close the rig's clients and state."""
    await rig.connector.close()
    await rig.admin.close()
    rig.state.close()


CloudCall = Callable[..., Any]
