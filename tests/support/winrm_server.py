"""A fleet of WinRM hosts served over real HTTPS, for tests of whole processes.

`WinRMServer` listens on 127.0.0.1 (an ephemeral port: the connector's
`[actions] port` points at it; real listeners are on 5986) with a
certificate for every host name it serves, issued by a test CA (`ca_pem`,
the connector's `[actions] ca_file`). Every request goes to the same
WS-Management logic as the `responses` mock (`WinRMResponder.answer`),
for the host the `Host` header names; basic authentication is checked
there, and a "no output yet" Receive is held for the request's
OperationTimeout, as Windows holds it. What each host does is scripted:
`succeed`, `refuse_schedule` (TriggerSchedule's ReturnValue != 0),
`exit_with` (a non-zero exit code), `reject_credentials` (401), `garble`
(an answer that is not SOAP), `hang` (no answer: the client's read times
out), `never_finish` (the command keeps running). `latency` is how long
each command runs. Every command a host received is counted
(`commands_to`).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import requests

from cloud import pki
from tests.support.winrm_responder import CommandReply, SentCommand, WinRMResponder, simulated_agent

# A command that never finishes: its Receives keep answering "no output yet".
ENDLESS = 10**9
# The most a held Receive or a hanging request waits (a real service holds a Receive
# for the request's OperationTimeout; the connector's read times out first).
HOLD_SECONDS = 60.0


def agent(
    *, stdout: bytes = b"", exit_code: int = 0, return_value: int = 0, endless: bool = False
) -> Callable[[SentCommand], CommandReply]:
    """A device: TriggerSchedule answers `return_value`; any other command `stdout`, `exit_code`."""

    def handle(command: SentCommand) -> CommandReply:
        if "TriggerSchedule" in (command.script or ""):
            return simulated_agent(command, return_value)
        return CommandReply(
            stdout=stdout, exit_code=exit_code, pending_receives=ENDLESS if endless else 0
        )

    return handle


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Listener

    def do_POST(self) -> None:
        """One WS-Management request, answered by the fleet."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        prepared = requests.Request(
            "POST",
            f"https://{self.headers.get('Host', '')}/wsman",
            data=body,
            headers=dict(self.headers.items()),
        ).prepare()
        owner = self.server.owner
        try:
            answer = owner.fleet.answer(prepared)
        except Exception as exc:  # a request the fleet could not read: the test fails on it
            owner.errors.append(f"{type(exc).__name__}: {exc}")
            self._send(400, {}, "")
            return
        if isinstance(answer, requests.exceptions.Timeout):
            owner.closing.wait(HOLD_SECONDS)  # no answer: the client's read times out first
            self.close_connection = True
            return
        if isinstance(answer, Exception):  # a broken connection: reset, without an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self._send(*answer)

    def _send(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the fleet records what it answered."""

    def handle(self) -> None:
        """Serve the connection; a client gone meanwhile (killed, timed out) is not an error."""
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError, OSError):
            super().handle()


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    owner: WinRMServer


class WinRMServer:
    """WinRM hosts on 127.0.0.1 over HTTPS (a context manager: started and stopped)."""

    def __init__(
        self,
        hosts: list[str],
        *,
        credentials: tuple[str, str] | None,
        latency: float = 0.0,
    ) -> None:
        issued = datetime.now(UTC)
        self._ca = pki.create_service_root(issued)
        self._certificate = pki.issue_server_certificate(
            self._ca, [h.lower() for h in hosts], ["127.0.0.1"], issued
        )
        self.fleet = WinRMResponder(
            credentials=credentials, latency=latency, hold_receives=HOLD_SECONDS
        )
        self.fleet.on_default(agent())
        self.errors: list[str] = []
        self.closing = threading.Event()
        self._listener: _Listener | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_pem(self) -> bytes:
        """The test CA that issued the hosts' certificate (the connector's `ca_file`)."""
        return self._ca.cert_pem

    @property
    def port(self) -> int:
        """The port the hosts listen on."""
        assert self._listener is not None, "not started"
        return int(self._listener.server_address[1])

    def __enter__(self) -> WinRMServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
            cert.write_bytes(self._certificate.cert_pem)
            key.write_bytes(self._certificate.key_pem)
            context.load_cert_chain(cert, key)
        listener = _Listener(("127.0.0.1", 0), _Handler, bind_and_activate=True)
        # The handshake happens in the request's thread: a silent client blocks nobody.
        listener.socket = context.wrap_socket(
            listener.socket, server_side=True, do_handshake_on_connect=False
        )
        listener.owner = self
        self._listener = listener
        self._thread = threading.Thread(target=listener.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.closing.set()
        if self._listener is not None:
            self._listener.shutdown()
            self._listener.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- what each host does --------------------------------------------------

    def succeed(self, host: str, stdout: bytes = b"") -> None:
        """Commands on `host` succeed (TriggerSchedule with ReturnValue 0; others print `stdout`)."""
        self.fleet.on(host, agent(stdout=stdout))

    def refuse_schedule(self, host: str, return_value: int) -> None:
        """The agent on `host` answers TriggerSchedule with a non-zero ReturnValue."""
        self.fleet.on(host, agent(return_value=return_value))

    def exit_with(self, host: str, exit_code: int, stdout: bytes = b"") -> None:
        """Commands on `host` exit with `exit_code`."""
        self.fleet.on(host, agent(stdout=stdout, exit_code=exit_code))

    def never_finish(self, host: str) -> None:
        """Scripts on `host` keep running (TriggerSchedule still answers)."""
        self.fleet.on(host, agent(endless=True))

    def reject_credentials(self, host: str) -> None:
        """`host` answers every request 401, whatever the credentials."""
        for step in ("create", "command", "receive", "signal", "delete"):
            self.fleet.fail(host, step, "unauthorized")

    def garble(self, host: str, step: str = "create") -> None:
        """`host` answers `step` with a body that is not SOAP."""
        self.fleet.fail(host, step, "garbled")

    def hang(self, host: str, step: str = "create") -> None:
        """`host` never answers `step` (the client's read times out)."""
        self.fleet.fail(host, step, "timeout")

    def commands_to(self, host: str) -> int:
        """How many commands reached `host`."""
        return self.fleet.step_count(host, "command")
