"""Device actions end to end: the cloud service and the connector as processes, WinRM faked.

A seeded embedded site is synced to a tenant by `cobridge connector run`
with `[actions]` on (basic auth over HTTPS; the password a `secret:`
reference into the encrypted store; the port and CA those of the fake
server). Only the devices' WinRM listeners are fake (`tests.support.winrm_server`),
and the devices' FQDNs are answered with loopback addresses inside the
connector (`tests.support.hosts_hook`). An operator queues actions through the API
and reads them back there and on the admin center's device page: a policy
retrieval succeeds with ReturnValue 0, a script's output is captured, a
device whose listener answers 401 fails `winrm_auth_rejected`, a device
nobody listens for fails `winrm_unreachable` after retries, and a script
running when the connector is killed with SIGKILL is reported
`interrupted` after the restart, having reached its device once.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.settings_secrets import SecretStore
from bridge.tenant.admin import AdminClient
from cloud.contract.actions import (
    ActionOut,
    ActionRequest,
    ActionState,
    RunScriptAction,
    ScriptCreate,
    TriggerAction,
)
from cloud.contract.devices import DeviceQuery
from onprem.winrm.config import check_host
from tests.support.admin_center import new_session, sign_in
from tests.support.paths import HOSTS_HOOK
from tests.support.system_checks import query
from tests.support.system_connector import ConnectorProcess, Log, status_json
from tests.support.system_processes import COBRIDGE, clean_env
from tests.support.system_setup import System, running_system
from tests.support.system_sites import site_devices
from tests.support.winrm_server import WinRMServer

HOOK = HOSTS_HOOK
USER, PASSWORD = "svc-cobridge", "Winrm-e2e-Pa55"
ADMIN_PASSWORD = "Center-e2e-Pa55-word"
SCRIPT = "Get-Service CcmExec | Select-Object -ExpandProperty Status"
DEADLINE = 120.0
ROLES = ("policy", "script", "denied", "killed", "gone")


def actions_section(server: WinRMServer, ca_file: Path) -> str:
    """`[actions]`: basic auth over HTTPS to the fake server's port, quick timeouts and retries."""
    return (
        '\n[actions]\nenabled = true\ntransport = "https"\nauth = "basic"\n'
        f'port = {server.port}\nusername = "{USER}"\npassword = "secret:winrm_password"\n'
        f'ca_file = "{ca_file}"\noperation_timeout = 1\nread_timeout = 3\n'
        "command_timeout = 120\nretry_attempts = 3\npoll_wait_seconds = 5\n"
    )


def site_hosts(system: System) -> dict[str, str]:
    """FQDN by SMSID of the site's live devices with an agent and a usable FQDN."""
    hosts = {}
    for device in site_devices(system.site_db):
        fqdn = device.keys.fqdn
        if fqdn and fqdn.isascii() and device.live and device.client:
            try:
                hosts[device.smsid] = check_host(fqdn).lower()
            except ValueError:
                continue
    return hosts


def journal_attempts(system: System, action_id: str) -> int:
    """How many attempts the connector's journal records for an action."""
    rows = query(
        system.stores.connector,
        "SELECT attempts FROM connector_action_runs WHERE action_id = :id",
        id=action_id,
    )
    return int(rows[0].attempts)


async def until_ended(
    admin: AdminClient, action_id: str, tail: Callable[[], str], timeout: float = DEADLINE
) -> ActionOut:
    """The action once it ended (poll with a deadline); `tail` is the connector's log."""
    deadline = time.monotonic() + timeout
    while True:
        action = await admin.action(action_id)
        if action.state.ended:
            return action
        if time.monotonic() > deadline:
            raise AssertionError(f"action {action_id} still {action.state.value}:\n{tail()}")
        await asyncio.sleep(0.25)


def wait_until(check: object, what: str, timeout: float = DEADLINE) -> None:
    """Until `check()` is true (poll with a deadline)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout:.0f} s: {what}")
        time.sleep(0.1)


def stopped_stats(connector: ConnectorProcess) -> Log:
    """The relay's figures logged when the connector stopped."""
    found = [line for line in connector.logs() if line.get("message") == "action relay stopped"]
    assert found, connector.tail()
    return found[-1]


async def device_page(system: System, device_id: str) -> str:
    """The admin center's device page, as the tenant's admin signed in with a password."""
    tenant, admin = system.tenant.tenant_id, "chaos-admin"
    args = ["cloud", "admin", "set-password", "--tenant", tenant, "--password-stdin", admin]
    done = subprocess.run(
        [COBRIDGE, *args, *system.service.store_args],
        input=ADMIN_PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    base = system.service.api_url
    async with new_session() as session:
        status, where = await sign_in(session, base, tenant, admin, ADMIN_PASSWORD)
        assert status == 303, where
        async with session.get(f"{base}/devices/{device_id}") as page:
            assert page.status == 200
            return await page.text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_actions_queued_by_an_operator_run_on_devices_through_the_connector(
    tmp_path: Path,
) -> None:
    with running_system(tmp_path, devices=60, seed_value=11) as system:
        by_smsid = site_hosts(system)
        with WinRMServer(list(by_smsid.values()), credentials=(USER, PASSWORD)) as server:
            ca_file = tmp_path / "winrm-ca.pem"
            ca_file.write_bytes(server.ca_pem)
            SecretStore(system.config.parent).set_many({"winrm_password": PASSWORD})
            config = system.configure()
            config.write_text(config.read_text() + actions_section(server, ca_file))
            names = dict.fromkeys(by_smsid.values(), "127.0.0.1")
            # One device's name points where nobody listens: its connections are refused.
            roles = dict(zip(ROLES, sorted(by_smsid.items())[: len(ROLES)], strict=True))
            host = {role: fqdn for role, (_, fqdn) in roles.items()}
            names[host["gone"]] = "127.0.0.2"
            env = {"PYTHONPATH": str(HOOK), "WINRM_TEST_HOSTS": json.dumps(names)}
            connector = system.connector(env=env)
            connector.wait_ok_cycle(timeout=180)
            assert any(line.get("message") == "device actions on" for line in connector.logs())

            async def scenario() -> None:
                nonlocal connector
                root = system.service.root_pem.read_bytes()
                async with AdminClient(
                    system.service.api_url, None, ca_pem=root, token=system.tenant.token
                ) as admin:
                    page = await admin.list_devices(DeviceQuery(top=200))
                    attached = {d["smsid"]: d["id"] for d in page.value}
                    device = {role: attached[smsid] for role, (smsid, _) in roles.items()}
                    server.succeed(host["script"], b"Running\r\n")
                    server.reject_credentials(host["denied"])
                    server.never_finish(host["killed"])
                    script = await admin.approve_script(ScriptCreate(name="ccm", content=SCRIPT))
                    run_script = RunScriptAction(kind="runScript", script_id=script.script_id)

                    async def queue(role: str, action: object) -> str:
                        request = ActionRequest(device_id=device[role], action=action)  # type: ignore[arg-type]
                        return (await admin.request_action(request)).action_id

                    policy = await queue("policy", TriggerAction(kind="machinePolicyRetrieval"))
                    ran = await queue("script", run_script)
                    denied = await queue("denied", TriggerAction(kind="hardwareInventory"))
                    gone = await queue("gone", TriggerAction(kind="softwareUpdateScan"))

                    done = await until_ended(admin, policy, lambda: connector.tail(60))
                    assert (done.state, done.return_value, done.error_code) == (
                        ActionState.SUCCEEDED,
                        0,
                        None,
                    )
                    html = await device_page(system, device["policy"])
                    row = re.search(rf'<tr data-action="{policy}" data-state="([a-z]+)"', html)
                    assert row is not None, "the action is not on the device page"
                    assert row.group(1) == "succeeded"
                    assert "ReturnValue 0" in html
                    done = await until_ended(admin, ran, lambda: connector.tail(60))
                    assert (done.state, done.exit_code, done.output) == (
                        ActionState.SUCCEEDED,
                        0,
                        "Running\r\n",
                    )
                    done = await until_ended(admin, denied, lambda: connector.tail(60))
                    assert (done.state, done.error_code) == (
                        ActionState.FAILED,
                        "winrm_auth_rejected",
                    )

                    done = await until_ended(admin, gone, lambda: connector.tail(60))
                    assert (done.state, done.error_code) == (
                        ActionState.FAILED,
                        "winrm_unreachable",
                    )
                    assert journal_attempts(system, gone) == 3  # retry_attempts

                    # A script still running on its device when the connector is killed.
                    killed = await queue("killed", run_script)
                    await asyncio.to_thread(
                        wait_until,
                        lambda: server.commands_to(host["killed"]) == 1,
                        "the script reaching its device",
                    )
                    assert (await admin.action(killed)).state is ActionState.RUNNING
                    connector.kill9()
                    connector = system.connector(env=env)
                    done = await until_ended(admin, killed, lambda: connector.tail(60))
                    assert (done.state, done.error_code) == (ActionState.FAILED, "interrupted")
                    assert server.commands_to(host["killed"]) == 1

            asyncio.run(scenario())
            counts = status_json(system.config)["action_runs"]
            assert connector.terminate() == 0, connector.tail()
            stopped = stopped_stats(connector)
            assert server.errors == []
        assert (stopped["interrupted"], stopped["claimed"]) == (1, 0)
        assert counts["finished"] == 5
        assert counts["started"] == counts["claimed"] == 0
        assert server.commands_to(host["policy"]) == 1
        assert server.commands_to(host["denied"]) == 0
        assert server.commands_to(host["gone"]) == 0
