"""Run client actions on a device over WinRM (pywinrm's WS-Management `Protocol`).

Each call opens a shell, sends one command, reads its output until it is
done (or its deadline passes: it is then terminated), and closes the shell.
Every pywinrm call goes through `WinRMClient._call`, the adapter's one
chokepoint (`onprem.winrm.errors.translate`). Every answer must relate to
the request it answers (`a:RelatesTo` equals the request's `a:MessageID`).
Output is captured up to `max_output_bytes` for stdout and stderr together;
the rest is read and dropped, and the result says it was truncated.

Synchronous and blocking: the connector runs calls in worker threads. A
client may be shared between threads; each call builds its own `Protocol`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from winrm.exceptions import WinRMOperationTimeoutError
from winrm.protocol import Protocol

import onprem.winrm.commands as commands
from onprem.errors import (
    ClientActionRefused,
    InvalidDeviceTarget,
    ScriptHashMismatch,
    ScriptTooLarge,
    WinRMBadResponse,
    WinRMCommandFailed,
    WinRMError,
    WinRMTimeout,
    WinRMUnreachable,
)
from onprem.winrm.config import WinRMConfig
from onprem.winrm.errors import UnrelatedAnswer, translate

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MESSAGE_ID = re.compile(r"<a:MessageID>([^<]+)</a:MessageID>")
_ADDRESSING = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
UTF8_CODEPAGE = 65001


@dataclass(frozen=True)
class CommandOutput:
    """What a finished command left: its exit code and (capped) output."""

    exit_code: int
    stdout: str
    stderr: str
    truncated: bool

    def text(self) -> str:
        """stdout, then stderr under a marker when there is any."""
        return self.stdout + (f"\n[stderr]\n{self.stderr}" if self.stderr else "")


@dataclass(frozen=True)
class ScheduleOutcome:
    """A TriggerSchedule call that the agent accepted (ReturnValue 0, or none returned)."""

    schedule_id: str
    return_value: int | None
    output: CommandOutput


class _CheckedProtocol(Protocol):
    """pywinrm's Protocol, refusing any answer that does not relate to its request.

    Its session ignores the environment (proxy variables, .netrc): devices are
    reached directly, with the configured credentials only.
    """

    def send_message(self, message: str) -> bytes:
        """Send one envelope; the answer's RelatesTo must equal the request's MessageID."""
        if self.transport.session is None:
            self.transport.build_session().trust_env = False
        answer = super().send_message(message)
        sent = _MESSAGE_ID.search(message)
        # pywinrm parses the same answer with ElementTree; expat bounds entity
        # expansion and ElementTree never fetches external entities.
        related = ET.fromstring(answer).find(f".//{_ADDRESSING}RelatesTo")  # noqa: S314
        if sent is None or related is None or (related.text or "").strip() != sent.group(1):
            raise UnrelatedAnswer("the answer does not relate to the request (RelatesTo)")
        return answer


class _Capture:
    """stdout and stderr up to a shared byte budget; whatever is beyond it is dropped."""

    def __init__(self, limit: int) -> None:
        self._left = limit
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.truncated = False

    def add(self, stdout: bytes, stderr: bytes) -> None:
        for chunk, into in ((stdout, self.stdout), (stderr, self.stderr)):
            kept = chunk[: self._left]
            into += kept
            self._left -= len(kept)
            self.truncated |= len(kept) < len(chunk)

    def output(self, exit_code: int) -> CommandOutput:
        return CommandOutput(
            exit_code=exit_code,
            stdout=self.stdout.decode("utf-8", errors="replace"),
            stderr=commands.readable_stderr(self.stderr.decode("utf-8", errors="replace")),
            truncated=self.truncated,
        )


@dataclass
class _Call:
    """One command's progress: where it is, and whether it may have reached the device."""

    host: str
    sent: bool = False


class WinRMClient:
    """Client actions on devices over WinRM, configured once for every device."""

    def __init__(self, config: WinRMConfig) -> None:
        self.config = config
        if config.transport == "http":
            logger.warning(
                "WinRM over plain http (port %s): only %s message encryption protects "
                "commands and output; prefer https",
                config.effective_port,
                config.auth,
            )

    def protocol(self, host: str) -> Protocol:
        """A pywinrm Protocol for one device, as configured (nothing is sent yet)."""
        config = self.config
        try:
            endpoint = config.endpoint(host)
        except ValueError as exc:
            raise InvalidDeviceTarget(f"cannot address the device: {exc}") from exc
        return _CheckedProtocol(
            endpoint,
            transport=config.auth,
            username=config.username,
            password=config.password.get_secret_value() if config.password else None,
            server_cert_validation="validate" if config.validate_certs else "ignore",
            ca_trust_path=str(config.ca_file) if config.ca_file else None,  # type: ignore[arg-type]
            read_timeout_sec=config.read_timeout,
            operation_timeout_sec=config.operation_timeout,
            message_encryption=config.message_encryption,
            proxy=None,
        )

    def trigger_schedule(
        self, host: str, schedule: str, *, timeout: float | None = None
    ) -> ScheduleOutcome:
        """Ask the device's agent to run a client schedule (DOMAIN.md's ids); it must return 0."""
        try:
            script = commands.trigger_schedule_script(schedule)
        except ValueError as exc:
            raise InvalidDeviceTarget(str(exc)) from exc
        sid = commands.schedule_id(schedule)
        output = self.run_command(
            host, commands.POWERSHELL, commands.powershell_arguments(script), timeout=timeout
        )
        try:
            value = commands.parse_return_value(output.stdout)
        except ValueError as exc:
            raise WinRMBadResponse(f"TriggerSchedule on {host}: {exc}", sent=True) from exc
        if value not in (0, None):
            raise ClientActionRefused(
                f"the agent on {host} refused schedule {sid} (ReturnValue {value})",
                return_value=value,
                output=output.text(),
            )
        return ScheduleOutcome(schedule_id=sid, return_value=value, output=output)

    def run_script(
        self, host: str, script: str, sha256: str, *, timeout: float | None = None
    ) -> CommandOutput:
        """Run an approved PowerShell script; refused, unsent, unless its text hashes to `sha256`."""
        if commands.script_digest(script) != sha256.strip().lower():
            raise ScriptHashMismatch(
                f"the script for {host} does not match its approved SHA-256 {sha256[:64]}",
                hint="the script changed after it was approved: approve it again",
            )
        try:
            arguments = commands.powershell_arguments(script)
        except ValueError as exc:
            raise ScriptTooLarge(str(exc), hint="shorten the approved script") from exc
        return self.run_command(host, commands.POWERSHELL, arguments, timeout=timeout)

    def restart(
        self, host: str, delay_seconds: int, *, timeout: float | None = None
    ) -> CommandOutput:
        """Schedule a restart of the device in `delay_seconds` (shutdown /r /t N)."""
        try:
            arguments = commands.restart_arguments(delay_seconds)
        except ValueError as exc:
            raise InvalidDeviceTarget(str(exc)) from exc
        return self.run_command(host, "shutdown.exe", arguments, timeout=timeout)

    def run_command(
        self,
        host: str,
        command: str,
        arguments: Sequence[str],
        *,
        timeout: float | None = None,
    ) -> CommandOutput:
        """Run one command to completion; `WinRMCommandFailed` (output kept) if it exits non-zero."""
        protocol = self.protocol(host)
        call = _Call(host)
        deadline = time.monotonic() + (timeout or self.config.command_timeout)
        shell_id: str | None = None
        try:
            shell_id = self._call(call, "open shell", protocol.open_shell, codepage=UTF8_CODEPAGE)
            # From here on the command may be running, even if no answer comes back.
            call.sent = True
            command_id = self._call(
                call,
                "send command",
                protocol.run_command,
                shell_id,
                command,
                list(arguments),
                skip_cmd_shell=True,
            )
            output = self._receive(protocol, call, shell_id, command_id, deadline)
            with contextlib.suppress(WinRMError):
                self._call(call, "signal", protocol.cleanup_command, shell_id, command_id)
        except (WinRMUnreachable, WinRMTimeout) as exc:
            if exc.__cause__ is not None:
                # The device did not answer (not our deadline): a delete would wait as long.
                shell_id = None
            raise
        finally:
            self._close(protocol, call, shell_id)
        if output.exit_code != 0:
            raise WinRMCommandFailed(
                f"{command} on {host} exited with code {output.exit_code}",
                exit_code=output.exit_code,
                output=output.text(),
                truncated=output.truncated,
            )
        return output

    def _receive(
        self, protocol: Protocol, call: _Call, shell_id: str, command_id: str, deadline: float
    ) -> CommandOutput:
        capture = _Capture(self.config.max_output_bytes)

        def receive() -> tuple[bytes, bytes, int, bool]:
            try:
                return protocol.get_command_output_raw(shell_id, command_id)
            except WinRMOperationTimeoutError:
                return b"", b"", -1, False  # no output within the operation timeout: still running

        while time.monotonic() < deadline:
            stdout, stderr, exit_code, done = self._call(call, "read output", receive)
            capture.add(stdout, stderr)
            if done:
                return capture.output(exit_code)
        with contextlib.suppress(WinRMError):
            self._call(call, "terminate", protocol.cleanup_command, shell_id, command_id)
        raise WinRMTimeout(f"the command on {call.host} did not finish in time", sent=True)

    def _close(self, protocol: Protocol, call: _Call, shell_id: str | None) -> None:
        try:
            if shell_id is not None:
                with contextlib.suppress(WinRMError):
                    self._call(call, "close shell", protocol.close_shell, shell_id, False)
        finally:
            protocol.transport.close_session()

    @staticmethod
    def _call(call: _Call, step: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """The chokepoint: run one pywinrm call; its failures become project errors."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = translate(exc, call.host, step, sent=call.sent)
            if error is None:
                raise
            if error is not exc:
                logger.debug("WinRM %s on %s failed: %s", step, call.host, error.code)
                raise error from exc
            raise
