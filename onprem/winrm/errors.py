"""The WinRM adapter's chokepoint: every pywinrm or requests exception becomes a project error.

`translate` is the only place that knows pywinrm's and requests' exception
types. Each project error says whether another attempt may succeed
(`transient`: unreachable, timed out, a 5xx without a fault, a busy
service) and whether the command may have reached the device (`sent`), so
that a command that must not run twice is never tried again once it may
have started.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError
from winrm import exceptions as pywinrm

from onprem.errors import (
    WinRMAuthRejected,
    WinRMBadResponse,
    WinRMConfigurationError,
    WinRMError,
    WinRMFault,
    WinRMServerBusy,
    WinRMTimeout,
    WinRMTlsUntrusted,
    WinRMUnreachable,
)

# WS-Management fault subcodes that say "not now" rather than "never".
TRANSIENT_FAULTS = frozenset({"QuotaLimit", "TimedOut", "ConcurrencyLimit"})
_AUTH_HINT = (
    "check [actions] username and password, and that the account may use WinRM on the "
    "device (a local administrator)"
)


class UnrelatedAnswer(Exception):
    """An answer whose RelatesTo is not the MessageID of the request it answers (internal)."""


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
        reason, NewConnectionError
    )


def _fault(exc: pywinrm.WSManFaultError, where: str, sent: bool) -> WinRMError:
    subcode = (exc.fault_subcode or "").rpartition(":")[2]
    reason = " ".join((exc.reason or "").split())[:300]
    if subcode in TRANSIENT_FAULTS or exc.code in (502, 503, 504):
        return WinRMServerBusy(f"{where}: the service is busy ({subcode or exc.code}): {reason}")
    return WinRMFault(
        f"{where}: WS-Management fault {subcode or exc.fault_code or exc.code}: {reason}",
        hint="the device's WinRM service refused the request; its event log "
        "(Microsoft-Windows-WinRM/Operational) says why",
        sent=sent,
    )


def translate(exc: BaseException, host: str, step: str, *, sent: bool) -> WinRMError | None:
    """The project error for a library exception raised at `step`; None when it is not one."""
    where = f"WinRM on {host} ({step})"
    if isinstance(exc, WinRMError):
        return exc
    if isinstance(exc, pywinrm.AuthenticationError):
        return WinRMAuthRejected(f"{where}: the credentials were rejected (401)", hint=_AUTH_HINT)
    if isinstance(exc, pywinrm.WSManFaultError):
        return _fault(exc, where, sent)
    if isinstance(exc, pywinrm.WinRMTransportError):
        if exc.code in (401, 403):
            return WinRMAuthRejected(f"{where}: access denied ({exc.code})", hint=_AUTH_HINT)
        if exc.code >= 500:
            return WinRMServerBusy(f"{where}: HTTP {exc.code} without a fault", sent=sent)
        return WinRMFault(
            f"{where}: HTTP {exc.code}",
            hint="check that the port is a WinRM listener (winrm enumerate winrm/config/listener)",
        )
    if isinstance(exc, pywinrm.WinRMOperationTimeoutError):
        return WinRMTimeout(f"{where}: the operation timed out on the device", sent=sent)
    if isinstance(exc, pywinrm.WinRMError):
        return WinRMConfigurationError(f"{where}: {exc}")
    if isinstance(exc, requests.exceptions.SSLError):
        return WinRMTlsUntrusted(
            f"{where}: the device's certificate is not trusted",
            hint="set [actions] ca_file to the CA that issued the WinRM certificates, "
            "and use the device's FQDN as the certificate names it",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        unsent = _never_connected(exc)
        what = "cannot connect" if unsent else "the connection broke"
        return WinRMUnreachable(
            f"{where}: {what}",
            hint="check that the device is on and its WinRM listener is reachable from the connector",
            sent=sent and not unsent,
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return WinRMTimeout(f"{where}: no answer within the read timeout", sent=sent)
    if isinstance(exc, requests.exceptions.RequestException):
        return WinRMUnreachable(f"{where}: {type(exc).__name__}", sent=sent)
    if isinstance(exc, UnrelatedAnswer):
        return WinRMBadResponse(f"{where}: {exc}", sent=sent)
    malformed = (ET.ParseError, StopIteration, KeyError, IndexError, ValueError, AttributeError)
    # pywinrm asserts RelatesTo on Delete and Signal answers.
    if isinstance(exc, (*malformed, AssertionError)):
        return WinRMBadResponse(
            f"{where}: the answer is not the WS-Management answer expected ({type(exc).__name__})",
            sent=sent,
        )
    return None
