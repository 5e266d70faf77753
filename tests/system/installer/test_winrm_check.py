"""The "WinRM reachable" prerequisite against the fake WinRM server over real TLS.

PASS when the test device's listener completes a TLS handshake trusted by
`ca_file`; FAIL with the fix when its certificate is not trusted or nothing
listens; SKIP, saying why, when actions are off or no test device is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.settings import CloudSettings, ConnectorSettings, SiteSettings
from bridge.settings_actions import ActionsSettings
from bridge.settings_directory import DirectorySettings
from installer.checks import CheckInput, CheckResult
from installer.checks_winrm import check_listener, check_winrm
from installer.layout import Layout
from tests.support.hosts_hook.sitecustomize import install, uninstall
from tests.support.installer_rig import Rig, files_holding, run_cli
from tests.support.winrm_server import WinRMServer

pytest_plugins = ["tests.support.installer_rig"]
WINRM_ENV = "COBRIDGE_TEST_WINRM_PASSWORD"

HOST = "probe.corp.example"
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def server() -> Iterator[WinRMServer]:
    """A WinRM listener for HOST on 127.0.0.1; a second name where nothing listens."""
    with WinRMServer([HOST], credentials=("svc", "Probe-Pa55")) as running:
        install({HOST: "127.0.0.1", "dark.corp.example": "127.0.0.2"})
        try:
            yield running
        finally:
            uninstall()


def actions(server: WinRMServer, **values: object) -> ActionsSettings:
    """An enabled `[actions]` section pointing at the server's port."""
    base: dict[str, object] = {
        "enabled": True,
        "auth": "basic",
        "username": "svc",
        "password": "Probe-Pa55",
        "port": server.port,
        "test_host": HOST,
    }
    return ActionsSettings(**(base | values))  # type: ignore[arg-type]


def target(tmp_path: Path, section: ActionsSettings | None, *, enabled: bool) -> CheckInput:
    """What the checks look at, with only the actions part of interest."""
    ca = tmp_path / "service-root.pem"
    ca.write_text("")
    return CheckInput(
        site=SiteSettings(db=f"sqlite:///{tmp_path / 'site.db'}"),
        cloud=CloudSettings(connector_url="https://127.0.0.1:9443", ca_file=ca),
        directory=DirectorySettings(),
        metrics_host="127.0.0.1",
        metrics_port=0,
        actions_enabled=enabled,
        layout=Layout(tmp_path),
        installed=False,
        enrolled=False,
        attach_code=False,
        actions=section,
    )


def only(results: list[CheckResult]) -> CheckResult:
    """The one result of the check."""
    assert len(results) == 1
    return results[0]


def test_a_trusted_listener_passes(server: WinRMServer, tmp_path: Path) -> None:
    ca_file = tmp_path / "winrm-ca.pem"
    ca_file.write_bytes(server.ca_pem)
    found = only(check_listener(actions(server, ca_file=ca_file), TIMEOUT))
    assert found.status == "PASS", found
    assert found.detail.startswith(f"{HOST}:{server.port}: TLS handshake completed")
    assert str(ca_file) in found.detail
    assert server.commands_to(HOST) == 0  # nothing is sent: no shell, no command


def test_an_untrusted_certificate_fails_with_the_fix(server: WinRMServer) -> None:
    found = only(check_listener(actions(server), TIMEOUT))
    assert found.status == "FAIL"
    assert "certificate is not trusted" in found.detail
    assert found.fix is not None
    assert "ca_file" in found.fix
    unchecked = only(check_listener(actions(server, validate_certs=False), TIMEOUT))
    assert unchecked.status == "PASS"
    assert "not validated" in unchecked.detail


def test_nothing_listening_fails_with_the_fix(server: WinRMServer) -> None:
    found = only(check_listener(actions(server, test_host="dark.corp.example"), TIMEOUT))
    assert found.status == "FAIL"
    assert found.detail.startswith(f"dark.corp.example:{server.port}: cannot connect")
    assert found.fix is not None
    assert f"port {server.port}" in found.fix


def test_the_check_is_skipped_with_a_reason(server: WinRMServer, tmp_path: Path) -> None:
    off = only(check_winrm(target(tmp_path, None, enabled=False)))
    assert (off.status, off.detail) == ("SKIP", "device actions are off")
    unnamed = only(check_winrm(target(tmp_path, actions(server, test_host=None), enabled=True)))
    assert unnamed.status == "SKIP"
    assert unnamed.detail == "no test device configured: WinRM reachability is not checked"
    assert unnamed.fix is not None
    assert "test_host" in unnamed.fix
    named = only(check_winrm(target(tmp_path, actions(server), enabled=True)))
    assert named.status == "FAIL"  # the default CA bundle does not trust the test CA


def test_a_test_host_must_be_a_host_name(server: WinRMServer) -> None:
    with pytest.raises(ValidationError) as refused:
        actions(server, test_host="not a host")
    assert "test_host" in str(refused.value)
    assert "not a host name or address" in str(refused.value)


def test_an_install_with_actions_checks_winrm_and_keeps_its_password_secret(
    rig: Rig, server: WinRMServer, tmp_path: Path
) -> None:
    ca_file = tmp_path / "winrm-ca.pem"
    ca_file.write_bytes(server.ca_pem)
    section = {
        "enabled": True,
        "auth": "basic",
        "winrm_user": "svc",
        "winrm_password": f"env:{WINRM_ENV}",
        "port": server.port,
        "ca_file": str(ca_file),
        "test_host": HOST,
    }
    answers = rig.answers(tmp_path / "answers.toml", actions=section)
    layout = Layout(tmp_path / "prefix")
    code = rig.tenant.attach_code()
    env = rig.env(code) | {WINRM_ENV: "Probe-Pa55"}
    done = run_cli("install", "--answers", str(answers), "--prefix", str(layout.prefix), env=env)
    assert done.exit_code == 0, done.output
    row = rf"winrm\W+PASS\W+{re.escape(HOST)}:{server.port}: TLS handshake completed"
    assert re.search(row, done.output), done.output
    config = layout.config.read_text()
    assert 'password = "secret:winrm_password"' in config
    assert f'test_host = "{HOST}"' in config
    assert files_holding(layout.prefix, ["Probe-Pa55"]) == []
    listed = run_cli("secrets", "list", "--prefix", str(layout.prefix))
    assert "winrm_password" in listed.stdout.split()
    settings = ConnectorSettings.load(layout.config)
    assert settings.actions.enabled is True
    assert settings.actions.password is not None
    assert settings.actions.password.get_secret_value() == "Probe-Pa55"
