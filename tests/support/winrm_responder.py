"""A WinRM endpoint mocked with `responses`, speaking WS-Management as Windows does.

`WinRMResponder` answers POSTs to `http(s)://<host>:<port>/wsman` on any
host: Create (a shell, its ShellId in a SelectorSet), Command (a CommandId),
Receive (base64 stdout/stderr streams, then CommandState Done with its
ExitCode; "no output yet" as the w:TimedOut fault a real service sends after
its operation timeout), Signal (terminate) and Delete. Every answer's
`a:RelatesTo` is the request's `a:MessageID`; a request for an unknown shell
gets the w:InvalidSelectors fault (HTTP 500, `s:Fault`) Windows sends; a
wrong basic credential gets 401 with `WWW-Authenticate`. Failures are
injected per host and step (`fail`); what each device "runs" is decided by
a handler (`on`). Every command sent is recorded, its `-EncodedCommand`
decoded, and the peak number of commands running at once is kept, overall
and per host.

`answer` is the whole request-to-answer logic; `tests.support.winrm_server` serves
the same fleet over real HTTPS, where "no output yet" is held for the
request's OperationTimeout (`hold_receives`) as Windows holds it.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

import requests
import responses

from tests.support.winrm_envelopes import (
    ACTIONS,
    CHALLENGE,
    NS,
    SHELL,
    Answer,
    authorized,
    b64,
    find_text,
    injected_failure,
    invalid_selectors,
    operation_timeout,
    option_value,
    reply,
    requested_operation_timeout,
    selected_shell,
    soap_fault,
)

_URL = re.compile(r"^https?://[^/]+/wsman$")
_WRITE = re.compile(r"\[Console\]::Out\.Write\('([^']*)'")


@dataclass(frozen=True)
class SentCommand:
    """One command a device received: its line, decoded, and the options it came with."""

    host: str
    shell_id: str
    command_id: str
    command: str
    arguments: tuple[str, ...]
    skip_cmd_shell: bool
    codepage: str | None

    @property
    def script(self) -> str | None:
        """The PowerShell an `-EncodedCommand` argument carries, decoded (None without one)."""
        args = [a.lower() for a in self.arguments]
        if "-encodedcommand" not in args:
            return None
        encoded = self.arguments[args.index("-encodedcommand") + 1]
        return base64.b64decode(encoded).decode("utf-16-le")


@dataclass(frozen=True)
class CommandReply:
    """What a device's command produces: streams, exit code, and how the answers are paced."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    # Receives answered "no output yet" (the w:TimedOut fault) before any output.
    pending_receives: int = 0
    # Receive answers the stdout is split over (the last one says Done).
    chunks: int = 1


def simulated_agent(command: SentCommand, return_value: int | str = 0) -> CommandReply:
    """A device with a healthy agent: a script writing a marker plus ReturnValue gets it written."""
    script = command.script or ""
    found = _WRITE.search(script)
    if "TriggerSchedule" in script and found:
        return CommandReply(stdout=f"{found.group(1)}{return_value}".encode())
    return CommandReply()


@dataclass
class _Command:
    sent: SentCommand
    reply: CommandReply
    pending: int
    chunks: list[bytes]
    done: bool = False
    held: bool = False


@dataclass
class _Failure:
    kind: str
    times: int | None


@dataclass
class _Host:
    shells: dict[str, dict[str, _Command]] = field(default_factory=dict)
    failures: dict[str, _Failure] = field(default_factory=dict)


class WinRMResponder:
    """A mocked fleet of WinRM hosts; use as a context manager (it starts `responses`)."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        handler: Callable[[SentCommand], CommandReply] = simulated_agent,
        latency: float = 0.0,
        keep_calls: bool = True,
        hold_receives: float = 0.0,
    ) -> None:
        self.credentials = credentials
        # At most this many seconds a Receive with no output yet is held before its fault.
        self.hold_receives = hold_receives
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.latency = latency
        self._keep_calls = keep_calls
        self._handlers: dict[str, Callable[[SentCommand], CommandReply]] = {}
        self._default = handler
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Condition()
        self._hold: tuple[int, float] | None = None
        self._route: responses.BaseResponse | None = None
        self._codepages: dict[str, str | None] = {}
        self.commands: list[SentCommand] = []
        self.steps: Counter[tuple[str, str]] = Counter()
        self.signals: list[tuple[str, str]] = []
        self.deleted: list[str] = []
        self.active: Counter[str] = Counter()
        self.peak_active = 0
        self.peak_active_per_host: Counter[str] = Counter()

    def __enter__(self) -> WinRMResponder:
        self.mock.__enter__()
        self._route = self.mock.add_callback(responses.POST, _URL, callback=self._mocked)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.mock.__exit__(kind, value, traceback)

    def on(self, host: str, handler: Callable[[SentCommand], CommandReply]) -> None:
        """What commands on `host` produce (others use the default handler)."""
        self._handlers[host.lower()] = handler

    def on_default(self, handler: Callable[[SentCommand], CommandReply]) -> None:
        """What commands produce on every host without a handler of its own."""
        self._default = handler

    def fail(self, host: str, step: str, kind: str, *, times: int | None = None) -> None:
        """Make `step` (create, command, receive, signal, delete) on `host` fail `times` times.

        Kinds: unreachable, reset, timeout, unauthorized, forbidden, garbled,
        unrelated, http500 (no fault), http503, or fault:<Subcode> (a WS-Man fault).
        """
        with self._lock:
            self._host(host).failures[step] = _Failure(kind, times)

    def hold_until(self, active: int, *, at_most: float) -> None:
        """Keep each command running until `active` run at once, or for `at_most` seconds."""
        self._hold = (active, at_most)

    def open_shells(self, host: str | None = None) -> int:
        """Shells created and not deleted (on one host, or all)."""
        with self._lock:
            hosts = [self._host(host)] if host else list(self._hosts.values())
            return sum(len(h.shells) for h in hosts)

    def step_count(self, host: str, step: str) -> int:
        """How many `step` requests reached `host` (failed ones included)."""
        return self.steps[(host.lower(), step)]

    def _host(self, host: str) -> _Host:
        return self._hosts.setdefault(host.lower(), _Host())

    # -- the endpoint ---------------------------------------------------------

    def _mocked(self, request: requests.PreparedRequest) -> Answer | Exception:
        try:
            return self.answer(request)
        finally:
            if not self._keep_calls and len(self.mock.calls) > 1000:
                self.mock.calls.reset()
                if self._route is not None:
                    self._route.calls.reset()

    def answer(self, request: requests.PreparedRequest) -> Answer | Exception:
        """The answer of the host the request's URL names; an exception for a broken exchange.

        The exception is what requests would raise (a refused or reset
        connection, a read timeout); `responses` raises it to the client.
        """
        host = (urlsplit(str(request.url)).hostname or "").lower()
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        root = ET.fromstring(body)
        action = ACTIONS[find_text(root, "s:Header/a:Action")]
        message_id = find_text(root, "s:Header/a:MessageID")
        assert message_id.startswith("uuid:"), message_id
        assert request.headers["Content-Type"].startswith("application/soap+xml")
        with self._lock:
            self.steps[(host, action)] += 1
            failure = self._take_failure(host, action)
        if failure is not None:
            return injected_failure(failure, host, action, message_id)
        if self.credentials is not None and not authorized(request, self.credentials):
            return 401, CHALLENGE, ""
        return getattr(self, f"_{action}")(host, root, message_id)

    def _take_failure(self, host: str, step: str) -> str | None:
        failure = self._host(host).failures.get(step)
        if failure is None:
            return None
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                del self._host(host).failures[step]
        return failure.kind

    def _create(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = str(uuid.uuid4()).upper()
        codepage = option_value(root, "WINRS_CODEPAGE")
        with self._lock:
            self._host(host).shells[shell_id] = {}
            self._codepages[shell_id] = codepage
        body = (
            f"<x:ResourceCreated><a:Address>https://{host}/wsman</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{SHELL}/cmd</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector>'
            "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
            f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId>"
            f"<rsp:ResourceUri>{SHELL}/cmd</rsp:ResourceUri><rsp:Owner>svc</rsp:Owner>"
            f"<rsp:InputStreams>stdin</rsp:InputStreams>"
            f"<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            f"<rsp:CodePage>{codepage or 437}</rsp:CodePage></rsp:Shell>"
        )
        return reply("create", message_id, body)

    def _command(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = selected_shell(root)
        line = root.find("s:Body/rsp:CommandLine", NS)
        if line is None:
            return soap_fault(
                message_id, "s:Sender", "w:InvalidParameter", "no CommandLine", 2150858882
            )
        with self._lock:
            shells = self._host(host).shells
            if shell_id not in shells:
                return invalid_selectors(message_id, shell_id)
        arguments = (line.findtext("rsp:Arguments", "", NS) or "").split()
        sent = SentCommand(
            host=host,
            shell_id=shell_id,
            command_id=str(uuid.uuid4()).upper(),
            command=line.findtext("rsp:Command", "", NS) or "",
            arguments=tuple(arguments),
            skip_cmd_shell=option_value(root, "WINRS_SKIP_CMD_SHELL") == "TRUE",
            codepage=self._codepages.get(shell_id),
        )
        produced = self._handlers.get(host, self._default)(sent)
        size = -(-len(produced.stdout) // max(1, produced.chunks)) or 1
        parts = [produced.stdout[i : i + size] for i in range(0, len(produced.stdout), size)] or [
            b""
        ]
        with self._lock:
            shells[shell_id][sent.command_id] = _Command(
                sent, produced, produced.pending_receives, parts
            )
            self.commands.append(sent)
            self.active[host] += 1
            self.peak_active = max(self.peak_active, sum(self.active.values()))
            self.peak_active_per_host[host] = max(
                self.peak_active_per_host[host], self.active[host]
            )
            self._lock.notify_all()
        body = f"<rsp:CommandResponse><rsp:CommandId>{sent.command_id}</rsp:CommandId></rsp:CommandResponse>"
        return reply("command", message_id, body)

    def _receive(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = selected_shell(root)
        stream = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
        command_id = stream.get("CommandId", "") if stream is not None else ""
        with self._lock:
            command = self._host(host).shells.get(shell_id, {}).get(command_id)
            if command is None:
                return invalid_selectors(message_id, shell_id)
            if self._hold is not None and not command.held:
                command.held = True
                wanted, at_most = self._hold
                self._lock.wait_for(lambda: sum(self.active.values()) >= wanted, at_most)
            pending = command.pending > 0
            if pending:
                command.pending -= 1
            else:
                chunk = command.chunks.pop(0)
                last = not command.chunks
        if pending:
            if self.hold_receives:
                time.sleep(min(self.hold_receives, requested_operation_timeout(root)))
            return operation_timeout(message_id)
        if self.latency and last:
            time.sleep(self.latency)  # the command's run time (benchmarks only)
        streams = f'<rsp:Stream Name="stdout" CommandId="{command_id}">{b64(chunk)}</rsp:Stream>'
        state = "Running"
        exit_code = ""
        if last:
            produced = command.reply
            if produced.stderr:
                streams += f'<rsp:Stream Name="stderr" CommandId="{command_id}">{b64(produced.stderr)}</rsp:Stream>'
            streams += (
                f'<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"></rsp:Stream>'
                f'<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"></rsp:Stream>'
            )
            state, exit_code = "Done", f"<rsp:ExitCode>{produced.exit_code}</rsp:ExitCode>"
            with self._lock:
                self._finish(host, command)
        body = (
            f"<rsp:ReceiveResponse>{streams}"
            f'<rsp:CommandState CommandId="{command_id}" '
            f'State="{SHELL}/CommandState/{state}">{exit_code}</rsp:CommandState>'
            "</rsp:ReceiveResponse>"
        )
        return reply("receive", message_id, body)

    def _signal(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = selected_shell(root)
        signal = root.find("s:Body/rsp:Signal", NS)
        command_id = signal.get("CommandId", "") if signal is not None else ""
        code = root.findtext("s:Body/rsp:Signal/rsp:Code", "", NS)
        assert code == f"{SHELL}/signal/terminate", code
        with self._lock:
            command = self._host(host).shells.get(shell_id, {}).get(command_id)
            if command is None:
                return invalid_selectors(message_id, shell_id)
            self.signals.append((host, command_id))
            self._finish(host, command)
        return reply("signal", message_id, "<rsp:SignalResponse/>")

    def _delete(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = selected_shell(root)
        with self._lock:
            commands = self._host(host).shells.pop(shell_id, None)
            if commands is None:
                return invalid_selectors(message_id, shell_id)
            for command in commands.values():
                self._finish(host, command)
            self.deleted.append(shell_id)
        return reply("delete", message_id, "")

    def _finish(self, host: str, command: _Command) -> None:
        if not command.done:
            command.done = True
            self.active[host] -= 1


def iter_scripts(responder: WinRMResponder, host: str | None = None) -> Iterator[str]:
    """The decoded PowerShell of every command sent (to one host, or all)."""
    for command in responder.commands:
        if (host is None or command.host == host.lower()) and command.script is not None:
            yield command.script
