"""The WinRM adapter's failures: each is a project error with a stable code, classified.

Transient failures (another attempt may succeed) are unreachable hosts,
timeouts, 5xx answers without a fault and busy-service faults; permanent
ones are rejected credentials, faults, garbled or unrelated answers and
non-zero exits. `sent` says whether the command may have reached the device.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onprem.errors import WinRMCommandFailed, WinRMError
from onprem.winrm import WinRMClient, WinRMConfig, script_digest
from tests.support.winrm_responder import CommandReply, WinRMResponder

HOST = "pc7.corp.example.com"
USER, PASSWORD = "svc-cobridge", "Winrm-Pa55-7d1e"


@pytest.fixture
def device() -> Iterator[WinRMResponder]:
    """A mocked WinRM fleet accepting the test account over basic auth."""
    with WinRMResponder(credentials=(USER, PASSWORD)) as responder:
        yield responder


def client(password: str = PASSWORD, **overrides: object) -> WinRMClient:
    """A client with basic auth over HTTPS."""
    config = {"auth": "basic", "username": USER, "password": password} | overrides
    return WinRMClient(WinRMConfig(**config))


def failure(**overrides: object) -> WinRMError:
    """The error a TriggerSchedule call ends in, checked for what every failure must hold."""
    with pytest.raises(WinRMError) as caught:
        client(**overrides).trigger_schedule(HOST, "021")
    error = caught.value
    assert PASSWORD not in str(error)
    assert HOST in error.message
    return error


# (step, injected failure) -> (code, transient, sent)
CASES = {
    ("create", "unreachable"): ("winrm_unreachable", True, False),
    ("create", "timeout"): ("winrm_timeout", True, False),
    ("create", "unauthorized"): ("winrm_auth_rejected", False, False),
    ("create", "forbidden"): ("winrm_auth_rejected", False, False),
    ("create", "garbled"): ("winrm_bad_response", False, False),
    ("create", "unrelated"): ("winrm_bad_response", False, False),
    ("create", "http503"): ("winrm_server_busy", True, False),
    ("create", "fault:QuotaLimit"): ("winrm_server_busy", True, False),
    ("command", "unreachable"): ("winrm_unreachable", True, False),
    ("command", "reset"): ("winrm_unreachable", True, True),
    ("command", "timeout"): ("winrm_timeout", True, True),
    ("command", "fault:InvalidSelectors"): ("winrm_fault", False, True),
    ("receive", "reset"): ("winrm_unreachable", True, True),
    ("receive", "timeout"): ("winrm_timeout", True, True),
    ("receive", "http500"): ("winrm_server_busy", True, True),
    ("receive", "garbled"): ("winrm_bad_response", False, True),
    ("receive", "unrelated"): ("winrm_bad_response", False, True),
}


@pytest.mark.parametrize(("step", "kind"), list(CASES))
def test_each_failure_has_a_stable_code_and_class(
    device: WinRMResponder, step: str, kind: str
) -> None:
    code, transient, sent = CASES[(step, kind)]
    device.fail(HOST, step, kind)
    error = failure()
    assert (error.code, error.transient, error.sent) == (code, transient, sent)
    assert error.__cause__ is not None  # raised from the library's exception


def test_a_wrong_password_is_rejected_with_401(device: WinRMResponder) -> None:
    error = failure(password="not-the-password")
    assert error.code == "winrm_auth_rejected"
    assert "401" in error.message
    assert error.hint
    assert "username and password" in error.hint
    assert not device.commands


def test_an_unreachable_host_never_got_the_command(device: WinRMResponder) -> None:
    device.fail(HOST, "create", "unreachable")
    error = failure()
    assert "cannot connect" in error.message
    assert device.step_count(HOST, "command") == 0


def test_a_non_zero_exit_keeps_the_output(device: WinRMResponder) -> None:
    device.on(
        HOST,
        lambda sent: CommandReply(stdout=b"partial", stderr=b"Invalid namespace", exit_code=1),
    )
    error = failure()
    assert isinstance(error, WinRMCommandFailed)
    assert (error.code, error.transient, error.exit_code) == ("command_failed", False, 1)
    assert "partial" in error.output
    assert "Invalid namespace" in error.output
    assert device.open_shells() == 0  # the shell was still closed


def test_a_command_that_outlives_its_deadline_is_terminated(device: WinRMResponder) -> None:
    device.on(HOST, lambda sent: CommandReply(pending_receives=10**6))
    with pytest.raises(WinRMError) as caught:
        client(command_timeout=0.2).run_script(
            HOST, "Start-Sleep 3600", script_digest("Start-Sleep 3600")
        )
    assert (caught.value.code, caught.value.transient, caught.value.sent) == (
        "winrm_timeout",
        True,
        True,
    )
    [sent] = device.commands
    assert device.signals == [(HOST, sent.command_id)]
    assert device.open_shells() == 0


def test_a_fault_names_its_subcode(device: WinRMResponder) -> None:
    device.fail(HOST, "command", "fault:InvalidSelectors")
    error = failure()
    assert "InvalidSelectors" in error.message
    assert error.hint
    assert "Microsoft-Windows-WinRM/Operational" in error.hint


def test_a_failed_cleanup_does_not_change_a_finished_result(device: WinRMResponder) -> None:
    device.fail(HOST, "signal", "http500")
    device.fail(HOST, "delete", "garbled")
    assert client().trigger_schedule(HOST, "021").return_value == 0


def test_a_transient_failure_does_not_stick(device: WinRMResponder) -> None:
    device.fail(HOST, "create", "unreachable", times=1)
    assert failure().code == "winrm_unreachable"
    assert client().trigger_schedule(HOST, "021").return_value == 0


def test_a_timed_out_shell_is_not_deleted_again(device: WinRMResponder) -> None:
    device.fail(HOST, "receive", "timeout")
    failure()
    assert device.step_count(HOST, "delete") == 0
