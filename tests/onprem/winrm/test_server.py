"""The fake WinRM server of the process tests, driven by the real adapter over real TLS.

Each scripted outcome must reach the adapter as the error a real device's
would: a schedule refused, a non-zero exit, 401, garbled SOAP, no answer at
all, a command that never ends, an untrusted certificate, nothing listening.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from onprem.errors import (
    ClientActionRefused,
    WinRMAuthRejected,
    WinRMBadResponse,
    WinRMCommandFailed,
    WinRMTimeout,
    WinRMTlsUntrusted,
    WinRMUnreachable,
)
from onprem.winrm import WinRMClient, WinRMConfig, script_digest
from tests.support.hosts_hook.sitecustomize import install, uninstall
from tests.support.winrm_server import WinRMServer

USER, PASSWORD = "svc-cobridge", "Server-Pa55-c0de"
HOSTS = ["ok.corp.example", "refuses.corp.example", "exits.corp.example", "denies.corp.example"]
HOSTS += ["garbles.corp.example", "hangs.corp.example", "busy.corp.example"]
SCRIPT = "Get-Service CcmExec"


@pytest.fixture(scope="module")
def server() -> Iterator[WinRMServer]:
    """The fleet on 127.0.0.1, every host name answered with that address."""
    with WinRMServer(HOSTS, credentials=(USER, PASSWORD)) as running:
        install(dict.fromkeys(HOSTS, "127.0.0.1") | {"gone.corp.example": "127.0.0.2"})
        try:
            yield running
        finally:
            uninstall()
        assert running.errors == []


@pytest.fixture(scope="module")
def ca_file(server: WinRMServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's test CA as a file (the connector's `[actions] ca_file`)."""
    path = tmp_path_factory.mktemp("winrm") / "ca.pem"
    path.write_bytes(server.ca_pem)
    return path


def client(server: WinRMServer, ca_file: Path | None, **overrides: object) -> WinRMClient:
    """The real adapter, basic auth over HTTPS to the server's port."""
    values: dict[str, object] = {
        "auth": "basic",
        "username": USER,
        "password": PASSWORD,
        "port": server.port,
        "ca_file": ca_file,
        "operation_timeout": 1,
        "read_timeout": 2,
        "command_timeout": 4,
    }
    return WinRMClient(WinRMConfig(**(values | overrides)))  # type: ignore[arg-type]


def test_a_schedule_and_a_script_succeed(server: WinRMServer, ca_file: Path) -> None:
    server.succeed("ok.corp.example", b"Running\r\n")
    winrm = client(server, ca_file)
    outcome = winrm.trigger_schedule("ok.corp.example", "021")
    assert outcome.return_value == 0
    output = winrm.run_script("ok.corp.example", SCRIPT, script_digest(SCRIPT))
    assert (output.exit_code, output.stdout) == (0, "Running\r\n")
    assert server.commands_to("ok.corp.example") == 2
    assert server.fleet.open_shells("ok.corp.example") == 0


def test_a_refused_schedule_and_a_non_zero_exit(server: WinRMServer, ca_file: Path) -> None:
    server.refuse_schedule("refuses.corp.example", 5)
    server.exit_with("exits.corp.example", 3, b"half done")
    winrm = client(server, ca_file)
    with pytest.raises(ClientActionRefused) as refused:
        winrm.trigger_schedule("refuses.corp.example", "021")
    assert refused.value.return_value == 5
    with pytest.raises(WinRMCommandFailed) as failed:
        winrm.run_script("exits.corp.example", SCRIPT, script_digest(SCRIPT))
    assert (failed.value.exit_code, failed.value.output) == (3, "half done")


def test_rejected_credentials_garbled_soap_and_silence(server: WinRMServer, ca_file: Path) -> None:
    server.reject_credentials("denies.corp.example")
    server.garble("garbles.corp.example")
    server.hang("hangs.corp.example")
    winrm = client(server, ca_file)
    with pytest.raises(WinRMAuthRejected):
        winrm.trigger_schedule("denies.corp.example", "021")
    with pytest.raises(WinRMBadResponse):
        winrm.trigger_schedule("garbles.corp.example", "021")
    with pytest.raises(WinRMTimeout) as silent:
        winrm.trigger_schedule("hangs.corp.example", "021")
    assert silent.value.transient
    # A wrong password is refused by every host.
    with pytest.raises(WinRMAuthRejected):
        client(server, ca_file, password="wrong").trigger_schedule("ok.corp.example", "021")


def test_a_command_that_never_ends_is_terminated(server: WinRMServer, ca_file: Path) -> None:
    server.never_finish("busy.corp.example")
    with pytest.raises(WinRMTimeout) as late:
        client(server, ca_file, command_timeout=2).run_script(
            "busy.corp.example", SCRIPT, script_digest(SCRIPT)
        )
    assert late.value.sent
    assert ("busy.corp.example", server.fleet.commands[-1].command_id) in server.fleet.signals
    assert server.fleet.open_shells("busy.corp.example") == 0


def test_an_untrusted_certificate_and_nothing_listening(server: WinRMServer, ca_file: Path) -> None:
    with pytest.raises(WinRMTlsUntrusted):
        client(server, None).trigger_schedule("ok.corp.example", "021")
    with pytest.raises(WinRMUnreachable) as unreachable:
        client(server, ca_file).trigger_schedule("gone.corp.example", "021")
    assert unreachable.value.transient
    assert not unreachable.value.sent
