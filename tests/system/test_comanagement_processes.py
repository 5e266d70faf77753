"""Co-management as real processes, with faults: zero violations of "exactly one side".

The cloud service and the connector run as processes; the site store is a
SQLite file both the connector and the simulated devices use; the connector
reaches the service through the fault-injecting proxy (throttling, 5xx,
connection resets before and after forwarding, timeouts). While a fleet of
simulated devices checks in with both sides all along, sliders move and the
connector is killed with SIGKILL in the middle of its arbitration and
restarted. The invariant checker then replays both sides' logs.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.tenant.admin import AdminClient
from bridge.tenant.checkin import CheckInClient
from cloud import pki
from cloud.contract.devices import DeviceQuery
from installer.demo.simulator import DeviceFleet, authority_log
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_database import create_site_engine
from onprem.site_store import read_site_identity
from tests.support.fault_proxy import FaultPlan, FaultProxy, identity_files
from tests.support.system_checks import query
from tests.support.system_connector import ConnectorProcess
from tests.support.system_setup import System, running_system
from workloads.catalog import Workload
from workloads.invariant import check
from workloads.settings import Slider, WorkloadSetting

FLEET = 10
ODDS = {"429": 0.05, "503": 0.05, "reset": 0.05, "reset_after": 0.08, "timeout": 0.02}
SEED = 20261126


def now() -> datetime:
    """The real clock (the service, the connector and the devices share it)."""
    return datetime.now(UTC)


def arbitration_passes(connector: ConnectorProcess) -> int:
    """How many arbitration passes the connector has logged."""
    return sum(1 for line in connector.logs() if line.get("message") == "arbitration pass")


def unsettled(system: System) -> int:
    """Records of the journal with a handoff in flight or a fence pending."""
    rows = query(
        system.stores.connector,
        "SELECT COUNT(*) AS n FROM connector_authority WHERE phase <> 'held' OR fence IS NOT NULL",
    )
    return int(rows[0].n)


def wait_for_pass(connector: ConnectorProcess, timeout: float = 180) -> None:
    """Until the connector has logged an arbitration pass."""
    connector.wait_for(lambda _logs: arbitration_passes(connector) >= 1, timeout=timeout)


async def fleet_clients(admin: AdminClient, system: System) -> dict[str, CheckInClient]:
    """Check-in clients for co-managed devices with an Entra id."""
    page = await admin.list_devices(DeviceQuery(managed_by="Co-managed", top=200))
    chosen = [d for d in page.value if d.get("azureADDeviceId")][:FLEET]
    root = system.service.root_pem.read_bytes()
    clients = {}
    for device in chosen:
        secret = (await admin.issue_checkin_credential(device["id"])).secret
        clients[device["smsid"]] = CheckInClient(
            system.service.api_url, None, ca_pem=root, token=secret
        )
    return clients


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_kills_and_a_faulty_network_never_let_both_sides_apply(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    issued = datetime.now(UTC)
    proxy_ca = pki.create_service_root(issued)
    proxy_cert = pki.issue_server_certificate(proxy_ca, ["localhost"], ["127.0.0.1"], issued)
    trust = tmp_path / "proxy-ca.pem"
    trust.write_bytes(proxy_ca.cert_pem)
    with running_system(tmp_path, devices=800, seed_value=5) as system:
        engine = create_site_engine(f"sqlite:///{system.site_db}")
        site = EmbeddedSiteAuthority(engine)
        hierarchy_id = read_site_identity(engine).hierarchy_id
        assert hierarchy_id is not None

        def move(workload: Workload, slider: Slider, pilot: str | None = None) -> None:
            current = site.read_settings().with_enabled(True)
            chosen = WorkloadSetting(slider=slider, pilot_collection=pilot)
            site.write_settings(
                current.with_workload(workload, chosen), changed_by="test", now=now()
            )

        plan = FaultPlan(
            seed=SEED, script=("pass", "pass"), probabilities=ODDS, retry_after=1, hold_seconds=1
        )
        proxy = FaultProxy(
            system.service.connector_url,
            server_cert_pem=proxy_cert.cert_pem,
            server_key_pem=proxy_cert.key_pem,
            upstream_ca_pem=system.service.root_pem,
            client_identity=identity_files(
                system.connector_dir / "connector.pem", system.connector_dir / "connector.key"
            ),
            plan=plan,
        )
        move(Workload.COMPLIANCE, Slider.CLOUD)
        with proxy:
            system.configure(connector_url=proxy.url, ca_file=trust)
            connector = system.connector()
            connector.wait_ok_cycle(timeout=180)
            wait_for_pass(connector)

            async def scenario() -> tuple[list[object], int]:
                nonlocal connector
                admin = AdminClient(
                    system.service.api_url,
                    None,
                    ca_pem=system.service.root_pem.read_bytes(),
                    token=system.tenant.token,
                )
                devices = await fleet_clients(admin, system)
                assert len(devices) == FLEET
                fleet = DeviceFleet(site, devices, clock=now, mean_interval=0.1, seed=SEED)
                stop = asyncio.Event()
                checking_in = asyncio.create_task(fleet.run(stop))
                steps = [
                    (Workload.CLIENT_APPS, Slider.CLOUD, None),
                    (Workload.DEVICE_CONFIGURATION, Slider.PILOT, "PS100014"),
                    (Workload.COMPLIANCE, Slider.CONFIGMGR, None),
                    (Workload.CLIENT_APPS, Slider.CONFIGMGR, None),
                ]
                try:
                    for workload, slider, pilot in steps:
                        move(workload, slider, pilot)
                        # Killed at a random moment of the pass that follows.
                        await asyncio.sleep(rng.uniform(0.2, 2.5))
                        connector.kill9()
                        connector = system.connector()
                        await asyncio.to_thread(wait_for_pass, connector)
                    # Faults stop mattering once every handoff has settled.
                    deadline = time.monotonic() + 120
                    while unsettled(system) and time.monotonic() < deadline:
                        await asyncio.sleep(0.5)
                    await asyncio.sleep(1.0)
                finally:
                    stop.set()
                    tally = await checking_in
                    for client in devices.values():
                        await client.close()
                events = await authority_log(site, admin, hierarchy_id)
                await admin.close()
                return list(events), tally.check_ins

            events, check_ins = asyncio.run(scenario())
            left = unsettled(system)
            tail = connector.tail(40)
            assert connector.terminate() == 0, connector.tail()
        assert left == 0, f"{left} handoffs never settled; the connector said:\n{tail}"
        violations = check(events)  # type: ignore[arg-type]
        assert violations == [], [str(v) for v in violations[:5]]
        assert check_ins > FLEET * 20
        counts = proxy.log.counts()
        engine.dispose()
    print(
        f"\nco-management under faults: {len(events)} events, {check_ins} check-ins, {dict(counts)}"
    )
