"""One whole system for a fault test: a seeded site, the cloud service, a tenant, a connector.

    with running_system(tmp_path, devices=3000, seed=7) as system:
        system.configure()                       # connector straight to the service
        connector = system.connector()           # `cobridge connector run`, a child process
        connector.wait_cycle()
        system.check("after the first cycle")    # tenant == site, every batch once

`configure` takes another connector URL and trust anchor (a proxy in
between) and sync settings. Both stores are found the way an operator would:
the service's SQLite file in its data directory (or the PostgreSQL URL given)
and the connector's `connector-state.db` in its data directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.system_checks import (
    BatchLedger,
    Stores,
    assert_tenant_matches_site,
    batches_applied_once,
    store_url,
)
from tests.support.system_connector import ConnectorProcess, run_once, write_connector_config
from tests.support.system_processes import ServiceProcess, Tenant, create_tenant
from tests.support.system_sites import seed


@dataclass
class System:
    """A running service with a tenant, a site, and where the connector keeps its state."""

    root: Path
    service: ServiceProcess
    tenant: Tenant
    site_db: str
    config: Path
    connector_dir: Path
    stores: Stores
    state_db: str | None = None
    started: list[ConnectorProcess] = field(default_factory=list)

    def configure(
        self,
        *,
        connector_url: str | None = None,
        ca_file: Path | None = None,
        sync: Mapping[str, float | int] | None = None,
    ) -> Path:
        """Write the connector's settings (with an attach code until it has enrolled)."""
        enrolled = (self.connector_dir / "connector.pem").exists()
        return write_connector_config(
            self.config,
            data_dir=self.connector_dir,
            site_db=self.site_db,
            connector_url=connector_url or self.service.connector_url,
            api_url=self.service.api_url,
            ca_file=ca_file or self.service.root_pem,
            attach_code=None if enrolled else self.tenant.attach_code(),
            sync=sync,
            state_db=self.state_db,
        )

    def stores_ready(self) -> bool:
        """Whether the connector has made its state store yet."""
        return self.state_db is not None or (self.connector_dir / "connector-state.db").exists()

    def connector(self, *, env: Mapping[str, str] | None = None) -> ConnectorProcess:
        """Start `cobridge connector run` on the settings (until stopped or killed)."""
        process = ConnectorProcess(self.config, env=env)
        self.started.append(process)
        return process

    def run_once(self) -> ConnectorProcess:
        """`cobridge connector run --once` to its end; fails the test unless it exits 0."""
        done = run_once(self.config)
        assert done.proc.returncode == 0, f"the cycle failed:\n{done.tail()}"
        return done

    def check(self, when: str) -> tuple[int, BatchLedger]:
        """Tenant equals site, and every batch was applied once: (devices, ledger)."""
        devices = assert_tenant_matches_site(self.site_db, self.stores, self.tenant, when)
        return devices, batches_applied_once(self.stores)


@contextlib.contextmanager
def running_system(
    root: Path,
    *,
    devices: int,
    seed_value: int,
    site_db: str | None = None,
    cloud_db: str | None = None,
    state_db: str | None = None,
) -> Iterator[System]:
    """Seed a site and start the service; SQLite files under `root` unless URLs are given.

    `site_db`, `cloud_db` and `state_db` name the site, the tenant store and
    the connector's state store.
    """
    site = site_db or str(root / "site.db")
    seed(site, devices, seed_value)
    cloud_dir = root / "cloud"
    with ServiceProcess(cloud_dir, db=cloud_db) as service:
        tenant = create_tenant(service, "chaos")
        connector_dir = root / "connector"
        stores = Stores(
            cloud=store_url(cloud_db, cloud_dir / "cloud.db"),
            connector=store_url(state_db, connector_dir / "connector-state.db"),
            tenant_id=tenant.tenant_id,
        )
        config = root / "connector.toml"
        system = System(root, service, tenant, site, config, connector_dir, stores, state_db)
        try:
            yield system
            assert service.alive(), "the cloud service died during the test"
        finally:
            # A failed test must not leave connectors running after it.
            for process in system.started:
                process.kill9()
