"""The WinRM adapter against a mocked WS-Management endpoint: what it sends, and what it reads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from onprem.errors import (
    ClientActionRefused,
    InvalidDeviceTarget,
    ScriptHashMismatch,
    ScriptTooLarge,
)
from onprem.winrm import SCHEDULES, WinRMClient, WinRMConfig, script_digest
from tests.support.winrm_responder import CommandReply, SentCommand, WinRMResponder, simulated_agent

HOST = "pc1.corp.example.com"
USER, PASSWORD = "CORP\\svc-cobridge", "Winrm-Pa55-7d1e"


@pytest.fixture
def device() -> Iterator[WinRMResponder]:
    """A mocked WinRM fleet accepting the test account over basic auth."""
    with WinRMResponder(credentials=(USER, PASSWORD)) as responder:
        yield responder


def client(**overrides: object) -> WinRMClient:
    """A client with basic auth over HTTPS (what a mock can check), and `overrides`."""
    values: dict[str, object] = {"auth": "basic", "username": USER, "password": PASSWORD}
    return WinRMClient(WinRMConfig(**(values | overrides)))


@pytest.mark.parametrize("number", sorted(SCHEDULES))
def test_trigger_schedule_sends_the_cim_call_with_the_schedule_id(
    device: WinRMResponder, number: str
) -> None:
    outcome = client().trigger_schedule(HOST, number)
    guid = f"{{00000000-0000-0000-0000-000000000{number}}}"
    assert outcome.schedule_id == guid
    assert outcome.return_value == 0
    [sent] = device.commands
    assert sent.command == "powershell.exe"
    assert "-EncodedCommand" in sent.arguments
    assert sent.skip_cmd_shell is True
    assert sent.codepage == "65001"
    script = sent.script or ""
    assert (
        "Invoke-CimMethod -Namespace root\\ccm -ClassName SMS_Client -MethodName TriggerSchedule "
        f"-Arguments @{{sScheduleID='{guid}'}}" in script
    )
    # The command was terminated and its shell deleted: nothing is left open on the device.
    assert device.signals == [(HOST, sent.command_id)]
    assert device.deleted == [sent.shell_id]
    assert device.open_shells() == 0


def test_a_full_schedule_guid_is_accepted_and_an_unknown_one_never_sent(
    device: WinRMResponder,
) -> None:
    guid = "{00000000-0000-0000-0000-000000000113}"
    assert client().trigger_schedule(HOST, guid).schedule_id == guid
    with pytest.raises(InvalidDeviceTarget) as caught:
        client().trigger_schedule(HOST, "{00000000-0000-0000-0000-000000000999}")
    assert caught.value.code == "invalid_device_target"
    with pytest.raises(InvalidDeviceTarget):
        client().trigger_schedule(HOST, "021'; Remove-Item C:\\ -Recurse; '")
    assert len(device.commands) == 1


def test_a_non_zero_return_value_is_a_refused_action(device: WinRMResponder) -> None:
    device.on(HOST, lambda sent: simulated_agent(sent, return_value=2147749889))
    with pytest.raises(ClientActionRefused) as caught:
        client().trigger_schedule(HOST, "021")
    assert caught.value.code == "client_action_refused"
    assert caught.value.return_value == 2147749889
    assert caught.value.transient is False
    assert device.open_shells() == 0


def test_a_method_returning_no_value_counts_as_accepted(device: WinRMResponder) -> None:
    device.on(HOST, lambda sent: simulated_agent(sent, return_value=""))
    assert client().trigger_schedule(HOST, "022").return_value is None


def test_an_approved_script_runs_encoded_and_its_output_is_read(device: WinRMResponder) -> None:
    script = "Get-Service CcmExec | Select-Object -ExpandProperty Status\nWrite-Output 'é ok'\n"
    device.on(HOST, lambda sent: CommandReply(stdout="Running\r\né ok\r\n".encode()))
    output = client().run_script(HOST, script, script_digest(script).upper())
    assert output.exit_code == 0
    assert output.stdout == "Running\r\né ok\r\n"
    assert output.truncated is False
    [sent] = device.commands
    assert sent.script is not None
    assert sent.script.endswith(script)


def test_a_script_that_does_not_match_its_hash_is_never_sent(device: WinRMResponder) -> None:
    approved = "Write-Output 'approved'"
    with pytest.raises(ScriptHashMismatch) as caught:
        client().run_script(HOST, approved + "; Stop-Computer", script_digest(approved))
    assert caught.value.code == "script_hash_mismatch"
    assert caught.value.sent is False
    assert sum(device.steps.values()) == 0


def test_a_script_too_long_for_a_command_line_is_never_sent(device: WinRMResponder) -> None:
    script = "Write-Output 'x'\n" * 1000
    with pytest.raises(ScriptTooLarge):
        client().run_script(HOST, script, script_digest(script))
    assert sum(device.steps.values()) == 0


def test_output_beyond_the_limit_is_dropped_and_flagged(device: WinRMResponder) -> None:
    big = bytes(range(48, 58)) * 1000  # 10 kB of digits
    device.on(HOST, lambda sent: CommandReply(stdout=big, stderr=b"warn", chunks=7))
    output = client(max_output_bytes=4096).run_script(HOST, "dir", script_digest("dir"))
    assert output.truncated is True
    assert output.stdout.encode() == big[:4096]
    assert output.stderr == ""  # the budget was spent on stdout
    assert device.step_count(HOST, "receive") == 7  # the rest was still read to the end


def test_output_within_the_limit_is_kept_whole_across_receives(device: WinRMResponder) -> None:
    device.on(HOST, lambda sent: CommandReply(stdout=b"a" * 900, stderr=b"b" * 100, chunks=3))
    output = client(max_output_bytes=1000).run_script(HOST, "dir", script_digest("dir"))
    assert (len(output.stdout), output.stderr, output.truncated) == (900, "b" * 100, False)


def test_powershell_error_records_become_readable_text(device: WinRMResponder) -> None:
    clixml = (
        '#< CLIXML\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        '<S S="Error">Access denied_x000D__x000A_</S></Objs>'
    )
    device.on(HOST, lambda sent: CommandReply(stderr=clixml.encode()))
    output = client().run_script(HOST, "x", script_digest("x"))
    assert output.stderr == "Access denied\n"


def test_no_output_yet_is_waited_through(device: WinRMResponder) -> None:
    device.on(HOST, lambda sent: CommandReply(stdout=b"late", pending_receives=3))
    assert client().run_script(HOST, "x", script_digest("x")).stdout == "late"
    assert device.step_count(HOST, "receive") == 4


def test_restart_schedules_shutdown_with_the_delay(device: WinRMResponder) -> None:
    client().restart(HOST, 300)
    [sent] = device.commands
    assert sent.command == "shutdown.exe"
    assert sent.arguments[:3] == ("/r", "/t", "300")
    with pytest.raises(InvalidDeviceTarget):
        client().restart(HOST, -1)
    assert len(device.commands) == 1


@pytest.mark.parametrize("host", ["", "pc1 ; calc", "http://pc1/wsman", "pc1/evil", "-x"])
def test_a_host_that_is_not_a_name_or_address_is_refused(device: WinRMResponder, host: str) -> None:
    with pytest.raises(InvalidDeviceTarget):
        client().trigger_schedule(host, "021")
    assert sum(device.steps.values()) == 0


def test_https_is_the_default_with_validated_certificates(tmp_path: Path) -> None:
    ca = tmp_path / "winrm-ca.pem"
    protocol = client(ca_file=ca).protocol(HOST)
    transport = protocol.transport
    assert transport.endpoint == f"https://{HOST}:5986/wsman"
    assert transport.server_cert_validation == "validate"
    assert transport.ca_trust_path == str(ca)
    assert transport.message_encryption == "never"  # TLS protects the messages
    assert transport.auth_method == "basic"
    assert transport.proxy is None
    assert (protocol.operation_timeout_sec, protocol.read_timeout_sec) == (20, 30)
    session = transport.build_session()
    assert session.verify == str(ca)
    assert transport.encryption is None


def test_certificate_validation_can_be_turned_off_explicitly() -> None:
    transport = client(validate_certs=False, port=15986).protocol("10.1.2.3").transport
    assert transport.server_cert_validation == "ignore"
    assert transport.endpoint == "https://10.1.2.3:15986/wsman"
    assert transport.build_session().verify is False
    assert client().protocol("fe80::1").transport.endpoint == "https://[fe80::1]:5986/wsman"


@pytest.mark.parametrize("auth", ["ntlm", "kerberos"])
def test_plain_http_encrypts_messages_and_warns(
    auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="onprem.winrm.client"):
        winrm = client(transport="http", auth=auth)
    assert "plain http" in caplog.text
    assert PASSWORD not in caplog.text
    transport = winrm.protocol(HOST).transport
    assert transport.endpoint == f"http://{HOST}:5985/wsman"
    assert transport.auth_method == auth
    assert transport.message_encryption == "always"


def test_ntlm_over_https_relies_on_tls(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        transport = client(auth="ntlm").protocol(HOST).transport
    assert caplog.text == ""
    assert (transport.auth_method, transport.message_encryption) == ("ntlm", "never")


def test_basic_over_plain_http_is_refused() -> None:
    with pytest.raises(ValidationError, match="sends the password and every command in clear"):
        WinRMConfig(transport="http", auth="basic", username=USER, password=PASSWORD)


def test_the_read_timeout_must_outlast_the_operation_timeout() -> None:
    with pytest.raises(ValidationError, match="not above operation_timeout"):
        WinRMConfig(username=USER, password=PASSWORD, operation_timeout=30, read_timeout=30)
    protocol = client(operation_timeout=5, read_timeout=9).protocol(HOST)
    assert (protocol.operation_timeout_sec, protocol.read_timeout_sec) == (5, 9)


def test_the_description_never_shows_the_password() -> None:
    config = WinRMConfig(username=USER, password=PASSWORD)
    assert PASSWORD not in config.describe() + repr(config) + str(config.model_dump())
    assert config.describe() == f"https port 5986, ntlm as {USER}, certificates validated"


def test_every_command_sent_is_recorded_with_its_shell(device: WinRMResponder) -> None:
    winrm = client()
    for number in ("001", "121"):
        winrm.trigger_schedule(HOST, number)
    shells = {sent.shell_id for sent in device.commands}
    assert len(shells) == 2
    assert set(device.deleted) == shells
    assert all(isinstance(sent, SentCommand) for sent in device.commands)


def test_devices_are_reached_directly_whatever_the_environment_says(
    device: WinRMResponder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    protocol = client().protocol(HOST)
    protocol.open_shell()
    session = protocol.transport.session
    assert session is not None
    assert session.trust_env is False  # no proxy variables, no .netrc credentials
    sent = device.mock.calls[-1].request.req_kwargs  # type: ignore[union-attr]
    assert "https" not in sent["proxies"]
