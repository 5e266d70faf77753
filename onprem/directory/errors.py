"""ldap3 exceptions -> cobridge's directory errors, each saying what failed and what to check.

Used only by the connection chokepoint. Messages name the host, the account
(never its password) and, for bind failures, Active Directory's own reason
code (`data 52e` and the like).
"""

from __future__ import annotations

import re

from ldap3.core import exceptions as lx

from onprem.directory.config import DirectoryConfig
from onprem.errors import (
    DirectoryBaseNotFound,
    DirectoryBindRejected,
    DirectoryError,
    DirectoryNotPermitted,
    DirectoryReadFailed,
    DirectoryTlsRequired,
    DirectoryTlsUntrusted,
    DirectoryUnreachable,
)

# AD's reason codes in an invalidCredentials message ("... data 52e, v1db1").
_BIND_REASONS = {
    "525": "the account does not exist",
    "52e": "the password is wrong",
    "530": "the account may not log on at this time",
    "531": "the account may not log on from this computer",
    "532": "the password has expired",
    "533": "the account is disabled",
    "701": "the account has expired",
    "773": "the password must be changed first",
    "775": "the account is locked out",
}
_DATA_CODE = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)
_TLS_TRUST = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "doesn't match")


def _tls_hint(config: DirectoryConfig) -> str:
    if config.ca_file:
        return f"check that {config.ca_file} holds the CA that issued the DC's certificate"
    return "set ca_file to the CA that issued the DC's certificate (the system store lacks it)"


def translate(
    exc: lx.LDAPException,
    config: DirectoryConfig,
    host: str,
    during: str,
    *,
    base: str | None = None,
) -> DirectoryError:
    """The directory error for `exc`, raised by the caller with `from exc`."""
    where = f"{host}:{config.effective_port}"
    text = str(exc)
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        code = _DATA_CODE.search(text)
        reason = _BIND_REASONS.get(code[1].lower(), "") if code else ""
        return DirectoryBindRejected(
            f"{where} refused the bind of {config.bind_dn}: "
            + (reason or "wrong name or password, or the account cannot log on"),
            hint="check bind_dn and the password stored for it; see the account in "
            "Active Directory Users and Computers",
        )
    if isinstance(exc, lx.LDAPStrongerAuthRequiredResult | lx.LDAPConfidentialityRequiredResult):
        return DirectoryTlsRequired(
            f"{where} requires an encrypted connection for a simple bind",
            hint='use tls = "ldaps" (port 636) or "starttls"; plain LDAP binds are refused by '
            "domain controllers that require LDAP signing",
        )
    if isinstance(exc, lx.LDAPCertificateError) or any(t in text for t in _TLS_TRUST):
        return DirectoryTlsUntrusted(
            f"the certificate of {where} is not trusted or does not name {host}",
            hint=_tls_hint(config) + ", and that hosts lists a name on the certificate",
        )
    if isinstance(exc, lx.LDAPStartTLSError):
        return DirectoryTlsUntrusted(
            f"{where} could not start TLS ({_short(text)})",
            hint="check that the DC has a certificate for LDAP, or use tls = ldaps",
        )
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        if base is not None:
            return DirectoryBaseNotFound(
                f"base DN {base} does not exist on {where} (or the account cannot see it)",
                hint="correct base_dns; nothing was read, so nothing will be deleted",
            )
        return DirectoryReadFailed(f"an object vanished on {where} while {during}")
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        return DirectoryNotPermitted(
            f"{config.bind_dn} lacks the right for {during} on {where}",
            hint="DirSync needs the 'Replicating Directory Changes' right on the domain; "
            'grant it, or set delta = "usn"',
        )
    if isinstance(exc, lx.LDAPInvalidFilterError):
        return DirectoryError(
            f"the filter {config.filter!r} is not valid LDAP",
            hint="correct filter; test it with ldapsearch first",
        )
    if isinstance(exc, lx.LDAPSocketOpenError) and during == "binding":
        return DirectoryUnreachable(
            f"cannot connect to {where} ({_short(text)})",
            hint="check the host name, that port is open from here, and that the DC is running",
        )
    if isinstance(exc, lx.LDAPCommunicationError | lx.LDAPSessionTerminatedByServerError):
        target = DirectoryUnreachable if during == "binding" else DirectoryReadFailed
        return target(
            f"the connection to {where} failed while {during} ({_short(text)})",
            hint="check the network path to the DC; nothing read in this attempt counts",
        )
    return DirectoryReadFailed(
        f"{where} failed while {during}: {_short(text)}",
        hint="see the domain controller's event log; nothing read in this attempt counts",
    )


def _short(text: str) -> str:
    # ldap3 wraps messages in tuples and quotes; keep the first useful line.
    text = text.strip("()[]'\", ")
    return text.splitlines()[0][:200] if text else "no detail"
