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
from urllib3.exceptions import MaxRetryError, NewConnectionError

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "create",
    f"{SHELL}/Command": "command",
    f"{SHELL}/Receive": "receive",
    f"{SHELL}/Signal": "signal",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "delete",
}
REPLY_ACTIONS = {
    "create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
    "command": f"{SHELL}/CommandResponse",
    "receive": f"{SHELL}/ReceiveResponse",
    "signal": f"{SHELL}/SignalResponse",
    "delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
}
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
OPERATION_TIMEOUT_CODE = 2150858793
_URL = re.compile(r"^https?://[^/]+/wsman$")
_WRITE = re.compile(r"\[Console\]::Out\.Write\('([^']*)'")
Answer = tuple[int, dict[str, str], str]


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
    ) -> None:
        self.credentials = credentials
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
        self._route = self.mock.add_callback(responses.POST, _URL, callback=self._answer)
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

    def _answer(self, request: requests.PreparedRequest) -> Answer | Exception:
        host = (urlsplit(str(request.url)).hostname or "").lower()
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        root = ET.fromstring(body)
        action = ACTIONS[_text(root, "s:Header/a:Action")]
        message_id = _text(root, "s:Header/a:MessageID")
        assert message_id.startswith("uuid:"), message_id
        assert request.headers["Content-Type"].startswith("application/soap+xml")
        with self._lock:
            self.steps[(host, action)] += 1
            failure = self._take_failure(host, action)
        if failure is not None:
            return _failure(failure, host, action, message_id)
        if self.credentials is not None and not _authorized(request, self.credentials):
            return 401, _CHALLENGE, ""
        try:
            answer = getattr(self, f"_{action}")(host, root, message_id)
        finally:
            if not self._keep_calls and len(self.mock.calls) > 1000:
                self.mock.calls.reset()
                if self._route is not None:
                    self._route.calls.reset()
        return answer

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
        codepage = _option(root, "WINRS_CODEPAGE")
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
        return _ok("create", message_id, body)

    def _command(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = _shell_id(root)
        line = root.find("s:Body/rsp:CommandLine", NS)
        if line is None:
            return _fault(
                message_id, "s:Sender", "w:InvalidParameter", "no CommandLine", 2150858882
            )
        with self._lock:
            shells = self._host(host).shells
            if shell_id not in shells:
                return _invalid_selectors(message_id, shell_id)
        arguments = (line.findtext("rsp:Arguments", "", NS) or "").split()
        sent = SentCommand(
            host=host,
            shell_id=shell_id,
            command_id=str(uuid.uuid4()).upper(),
            command=line.findtext("rsp:Command", "", NS) or "",
            arguments=tuple(arguments),
            skip_cmd_shell=_option(root, "WINRS_SKIP_CMD_SHELL") == "TRUE",
            codepage=self._codepages.get(shell_id),
        )
        reply = self._handlers.get(host, self._default)(sent)
        size = -(-len(reply.stdout) // max(1, reply.chunks)) or 1
        parts = [reply.stdout[i : i + size] for i in range(0, len(reply.stdout), size)] or [b""]
        with self._lock:
            shells[shell_id][sent.command_id] = _Command(sent, reply, reply.pending_receives, parts)
            self.commands.append(sent)
            self.active[host] += 1
            self.peak_active = max(self.peak_active, sum(self.active.values()))
            self.peak_active_per_host[host] = max(
                self.peak_active_per_host[host], self.active[host]
            )
            self._lock.notify_all()
        body = f"<rsp:CommandResponse><rsp:CommandId>{sent.command_id}</rsp:CommandId></rsp:CommandResponse>"
        return _ok("command", message_id, body)

    def _receive(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = _shell_id(root)
        stream = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
        command_id = stream.get("CommandId", "") if stream is not None else ""
        with self._lock:
            command = self._host(host).shells.get(shell_id, {}).get(command_id)
            if command is None:
                return _invalid_selectors(message_id, shell_id)
            if self._hold is not None and not command.held:
                command.held = True
                wanted, at_most = self._hold
                self._lock.wait_for(lambda: sum(self.active.values()) >= wanted, at_most)
            if command.pending > 0:
                command.pending -= 1
                return _operation_timeout(message_id)
            chunk = command.chunks.pop(0)
            last = not command.chunks
        if self.latency and last:
            time.sleep(self.latency)  # the command's run time (benchmarks only)
        streams = f'<rsp:Stream Name="stdout" CommandId="{command_id}">{_b64(chunk)}</rsp:Stream>'
        state = "Running"
        exit_code = ""
        if last:
            reply = command.reply
            if reply.stderr:
                streams += f'<rsp:Stream Name="stderr" CommandId="{command_id}">{_b64(reply.stderr)}</rsp:Stream>'
            streams += (
                f'<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"></rsp:Stream>'
                f'<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"></rsp:Stream>'
            )
            state, exit_code = "Done", f"<rsp:ExitCode>{reply.exit_code}</rsp:ExitCode>"
            with self._lock:
                self._finish(host, command)
        body = (
            f"<rsp:ReceiveResponse>{streams}"
            f'<rsp:CommandState CommandId="{command_id}" '
            f'State="{SHELL}/CommandState/{state}">{exit_code}</rsp:CommandState>'
            "</rsp:ReceiveResponse>"
        )
        return _ok("receive", message_id, body)

    def _signal(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = _shell_id(root)
        signal = root.find("s:Body/rsp:Signal", NS)
        command_id = signal.get("CommandId", "") if signal is not None else ""
        code = root.findtext("s:Body/rsp:Signal/rsp:Code", "", NS)
        assert code == f"{SHELL}/signal/terminate", code
        with self._lock:
            command = self._host(host).shells.get(shell_id, {}).get(command_id)
            if command is None:
                return _invalid_selectors(message_id, shell_id)
            self.signals.append((host, command_id))
            self._finish(host, command)
        return _ok("signal", message_id, "<rsp:SignalResponse/>")

    def _delete(self, host: str, root: ET.Element, message_id: str) -> Answer:
        shell_id = _shell_id(root)
        with self._lock:
            commands = self._host(host).shells.pop(shell_id, None)
            if commands is None:
                return _invalid_selectors(message_id, shell_id)
            for command in commands.values():
                self._finish(host, command)
            self.deleted.append(shell_id)
        return _ok("delete", message_id, "")

    def _finish(self, host: str, command: _Command) -> None:
        if not command.done:
            command.done = True
            self.active[host] -= 1


_CHALLENGE = {"WWW-Authenticate": 'Negotiate, Basic realm="WSMAN"', "Content-Length": "0"}


def _text(root: ET.Element, path: str) -> str:
    return (root.findtext(path, "", NS) or "").strip()


def _option(root: ET.Element, name: str) -> str | None:
    for option in root.iterfind("s:Header/w:OptionSet/w:Option", NS):
        if option.get("Name") == name:
            return (option.text or "").strip()
    return None


def _shell_id(root: ET.Element) -> str:
    for selector in root.iterfind("s:Header/w:SelectorSet/w:Selector", NS):
        if selector.get("Name") == "ShellId":
            return (selector.text or "").strip()
    return ""


def _authorized(request: requests.PreparedRequest, credentials: tuple[str, str]) -> bool:
    header = request.headers.get("Authorization", "")
    expected = base64.b64encode(":".join(credentials).encode()).decode()
    return header == f"Basic {expected}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _envelope(action: str, relates_to: str, body: str) -> str:
    return (
        '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        f'xmlns:rsp="{SHELL}" '
        'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:Action>{action}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )


def _ok(step: str, relates_to: str, body: str) -> Answer:
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    return 200, headers, _envelope(REPLY_ACTIONS[step], relates_to, body)


def _fault(relates_to: str, code: str, subcode: str, reason: str, wsman_code: int) -> Answer:
    body = (
        f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>'
        "<s:Detail><f:WSManFault "
        'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        f'Code="{wsman_code}" Machine="host"><f:Message>{reason}</f:Message></f:WSManFault>'
        "</s:Detail></s:Fault>"
    )
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    return 500, headers, _envelope(FAULT_ACTION, relates_to, body)


def _invalid_selectors(relates_to: str, shell_id: str) -> Answer:
    reason = (
        "The WS-Management service cannot process the request because the request "
        f"contained invalid selectors for the resource. (ShellId {shell_id} not found)"
    )
    return _fault(relates_to, "s:Sender", "w:InvalidSelectors", reason, 2150858843)


def _operation_timeout(relates_to: str) -> Answer:
    reason = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."
    return _fault(relates_to, "s:Receiver", "w:TimedOut", reason, OPERATION_TIMEOUT_CODE)


def _failure(kind: str, host: str, step: str, message_id: str) -> Answer | Exception:
    url = f"https://{host}/wsman"
    if kind == "unreachable":
        refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
        return requests.exceptions.ConnectionError(MaxRetryError(None, url, refused))  # type: ignore[arg-type]
    if kind == "reset":
        return requests.exceptions.ConnectionError("Connection reset by peer")
    if kind == "timeout":
        return requests.exceptions.ReadTimeout(f"read timed out ({step})")
    if kind == "unauthorized":
        return 401, _CHALLENGE, ""
    if kind == "forbidden":
        return 403, {}, ""
    if kind == "garbled":
        return 200, {"Content-Type": "application/soap+xml"}, "<s:Envelope><s:Body>\x00half an ans"
    if kind == "unrelated":
        return _ok(step, f"uuid:{uuid.uuid4()}", "")
    if kind == "http500":
        return 500, {"Content-Type": "text/html"}, "<html><body>Internal Server Error</body></html>"
    if kind == "http503":
        return 503, {"Content-Type": "text/html"}, "<html><body>Service Unavailable</body></html>"
    if kind.startswith("fault:"):
        subcode = kind.partition(":")[2]
        return _fault(message_id, "s:Receiver", f"w:{subcode}", f"{subcode} injected", 2150858890)
    raise ValueError(f"unknown failure kind {kind!r}")


def iter_scripts(responder: WinRMResponder, host: str | None = None) -> Iterator[str]:
    """The decoded PowerShell of every command sent (to one host, or all)."""
    for command in responder.commands:
        if (host is None or command.host == host.lower()) and command.script is not None:
            yield command.script
