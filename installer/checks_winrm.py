"""The "WinRM reachable" prerequisite: a TCP connection, then a TLS handshake, to a test device.

Only when device actions are on, and only when `[actions] test_host` names a
device to try: the connector reaches every device directly on its WinRM
listener (HTTPS, 5986 unless `port` says otherwise), so one device answering
proves the route, the port and the trust in its certificate (`ca_file`, or
the bundle requests uses). Nothing is sent over the connection: the
credentials are the relay's to use.
"""

from __future__ import annotations

import socket
import ssl

from requests.certs import where as default_bundle

from bridge.settings_actions import ActionsSettings
from installer.checks import CheckInput, CheckResult, result

NAME = "winrm"
TIMEOUT_SECONDS = 5.0


class _Unreachable(Exception):
    """The listener could not be reached or trusted: (what, fix)."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what, self.fix = what, fix


def check_winrm(target: CheckInput) -> list[CheckResult]:
    """WinRM reachable on the configured test device (when actions are on and one is named)."""
    if not target.actions_enabled:
        return result(NAME, "SKIP", "device actions are off")
    actions = target.actions
    if actions is None or actions.test_host is None:
        return result(
            NAME,
            "SKIP",
            "no test device configured: WinRM reachability is not checked",
            'add test_host = "<a device FQDN>" under [actions] and run `cobridge doctor`',
        )
    return check_listener(actions, TIMEOUT_SECONDS)


def check_listener(actions: ActionsSettings, timeout: float) -> list[CheckResult]:
    """Connect to `actions.test_host`'s WinRM listener as the relay would (TCP, then TLS)."""
    host = actions.test_host or ""
    port = actions.port or (5986 if actions.transport == "https" else 5985)
    where = f"{host}:{port}"
    try:
        detail = _probe(actions, host, port, timeout)
    except _Unreachable as exc:
        return result(NAME, "FAIL", f"{where}: {exc.what}", exc.fix)
    return result(NAME, "PASS", f"{where}: {detail}")


def _probe(actions: ActionsSettings, host: str, port: int, timeout: float) -> str:
    """The one place this check does I/O; its failures become `_Unreachable`."""
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise _Unreachable(
            f"the name does not resolve ({exc.strerror})",
            "check the device's DNS record and this host's resolver",
        ) from exc
    except OSError as exc:
        raise _Unreachable(
            f"cannot connect ({exc.strerror or type(exc).__name__})",
            f"check that the device is on, its WinRM listener is on port {port}, and no "
            "firewall drops the connection (winrm quickconfig -transport:https on the device)",
        ) from exc
    with connection:
        if actions.transport == "http":
            return "TCP connection accepted (plain http: message encryption, no TLS to check)"
        context = _tls_context(actions)
        try:
            with context.wrap_socket(connection, server_hostname=host) as tls:
                version = tls.version()
        except ssl.SSLCertVerificationError as exc:
            raise _Unreachable(
                f"the listener's certificate is not trusted ({exc.verify_message})",
                "set [actions] ca_file to the CA that issued the WinRM certificates, and use "
                "the device's FQDN as its certificate names it",
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            raise _Unreachable(
                f"the TLS handshake failed ({type(exc).__name__})",
                "check that the port is the device's WinRM HTTPS listener "
                "(winrm enumerate winrm/config/listener)",
            ) from exc
    trust = (
        "certificate not validated (validate_certs = false)"
        if not actions.validate_certs
        else f"certificate trusted by {actions.ca_file or 'the default CA bundle'}"
    )
    return f"TLS handshake completed ({version}); {trust}"


def _tls_context(actions: ActionsSettings) -> ssl.SSLContext:
    # As the relay's requests session: ca_file, else the bundle requests ships with.
    context = ssl.create_default_context(cafile=str(actions.ca_file or default_bundle()))
    if not actions.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
