"""One bound LDAP connection to a domain controller: the adapter's only I/O chokepoint.

Every ldap3 call goes through `DirectoryConnection._call`, which turns ldap3's
exceptions into `onprem.errors` directory errors with a message an admin can
act on (`raise ... from exc`; ldap3 exceptions never carry the password, and
messages here never quote it). Nothing connects at import time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import ldap3
from ldap3.core import exceptions as lx
from ldap3.protocol.microsoft import dir_sync_control, show_deleted_control

from onprem.directory.config import DirectoryConfig, dn_key, is_under
from onprem.directory.cursor import DcIdentity
from onprem.directory.errors import translate
from onprem.errors import DirectoryError, DirectoryUnreachable

log = logging.getLogger("cobridge.directory")
PAGED = "1.2.840.113556.1.4.319"
DIRSYNC = "1.2.840.113556.1.4.841"
T = TypeVar("T")


class DirectoryConnection:
    """A connection bound as the service account to the first reachable configured DC."""

    def __init__(self, config: DirectoryConfig, conn: ldap3.Connection, host: str) -> None:
        self.config = config
        self.host = host
        self._conn = conn

    @classmethod
    def open(cls, config: DirectoryConfig) -> DirectoryConnection:
        """Bind to the first configured host that answers; other failures stop at once."""
        _warn_about_transport(config)
        unreachable: list[DirectoryUnreachable] = []
        for n, host in enumerate(config.hosts, 1):
            try:
                return cls(config, _bind(config, host), host)
            except DirectoryUnreachable as exc:
                if n < len(config.hosts):
                    log.warning("%s; trying the next domain controller", exc.message)
                unreachable.append(exc)
        if len(unreachable) == 1:
            raise unreachable[0]
        raise DirectoryUnreachable(
            f"none of the {len(unreachable)} domain controllers answered: "
            + "; ".join(e.message for e in unreachable),
            hint=unreachable[-1].hint,
        ) from unreachable[-1]

    def close(self) -> None:
        """Unbind and close the socket (errors while closing are of no interest)."""
        with contextlib.suppress(lx.LDAPException, OSError):
            self._conn.unbind()

    def __enter__(self) -> DirectoryConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, during: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except lx.LDAPException as exc:
            raise translate(exc, self.config, self.host, during) from exc
        except OSError as exc:  # a socket or TLS error that ldap3 let through unwrapped
            raise translate(ldap_error_for(exc), self.config, self.host, during) from exc

    def identity(self) -> DcIdentity:
        """The DC's identity and highest committed USN, from the rootDSE read at bind."""
        info = self._conn.server.info
        other = info.other if info else {}

        def first(name: str) -> str:
            values = other.get(name) or [""]
            return str(values[0])

        service = first("dsServiceName")
        found = self._call(
            "reading the DC's invocationId",
            self._conn.search,
            service,
            "(objectClass=*)",
            search_scope=ldap3.BASE,
            attributes=["invocationId"],
        )
        raw = self._conn.response[0]["raw_attributes"].get("invocationId") if found else None
        if not raw or len(raw[0]) != 16 or not first("highestCommittedUSN").isdigit():
            raise DirectoryError(
                f"{self.host} did not say which domain controller it is "
                "(dsServiceName, invocationId, highestCommittedUSN)",
                hint="point hosts at Active Directory domain controllers",
            )
        return DcIdentity(
            server=first("dnsHostName") or self.host,
            ds_service_name=service,
            invocation_id=uuid.UUID(bytes_le=raw[0]),
            naming_context=self._naming_context(info.naming_contexts or []),
            highest_usn=int(first("highestCommittedUSN")),
        )

    def _naming_context(self, contexts: Sequence[str]) -> str:
        # The deepest naming context holding every base DN (the domain, not the forest root).
        bases = [dn_key(dn) for dn in self.config.base_dns]
        holding = [nc for nc in contexts if all(is_under(b, dn_key(nc)) for b in bases)]
        if not holding:
            raise DirectoryError(
                f"the base DNs are not all in one naming context that {self.host} holds",
                hint="list base DNs of this DC's own domain only; another domain needs its own DC",
            )
        return max(holding, key=lambda nc: len(dn_key(nc)))

    def require_base(self, dn: str) -> None:
        """Raise `DirectoryBaseNotFound` unless `dn` exists (and is visible to the account)."""
        missing = lx.LDAPNoSuchObjectResult()
        try:
            self._conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE)
        except lx.LDAPException as exc:
            missing = exc
        else:
            if any(e.get("type") == "searchResEntry" for e in self._conn.response):
                return
        raise translate(missing, self.config, self.host, f"checking {dn}", base=dn) from missing

    def paged(
        self, base: str, search_filter: str, attributes: Sequence[str], *, deleted: bool = False
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(dn, raw attributes) of every entry below `base`, a page at a time."""
        controls = [show_deleted_control(criticality=True)] if deleted else None
        cookie: bytes | None = None
        while True:
            self._call(
                f"reading below {base}",
                self._conn.search,
                base,
                search_filter,
                attributes=list(attributes),
                paged_size=self.config.page_size,
                paged_cookie=cookie,
                controls=controls,
            )
            for entry in self._conn.response:
                if entry.get("type") == "searchResEntry":
                    yield entry["dn"], entry["raw_attributes"]
            cookie = (
                self._conn.result.get("controls", {}).get(PAGED, {}).get("value", {}).get("cookie")
            )
            if not cookie:
                return

    def dirsync(
        self, base: str, search_filter: str, attributes: Sequence[str], cookie: bytes | None
    ) -> Iterator[tuple[str, dict[str, Any]] | bytes]:
        """DirSync changes since `cookie`: entries, each batch followed by its new cookie."""
        while True:
            self._call(
                "reading changes (DirSync)",
                self._conn.search,
                base,
                search_filter,
                attributes=list(attributes),
                controls=[dir_sync_control(True, False, False, False, False, 0, cookie)],
            )
            for entry in self._conn.response:
                if entry.get("type") == "searchResEntry":
                    yield entry["dn"], entry["raw_attributes"]
            value = self._conn.result.get("controls", {}).get(DIRSYNC, {}).get("value", {})
            if not value.get("cookie"):
                raise DirectoryError(f"{self.host} answered a DirSync search without a cookie")
            cookie = value["cookie"]
            yield cookie
            if not value.get("more_results"):
                return


def _warn_about_transport(config: DirectoryConfig) -> None:
    if config.tls == "plain":
        log.warning(
            "directory: plain LDAP is configured: the service account's password and every "
            "computer object cross the network unencrypted; use tls = ldaps or starttls"
        )
    elif not config.tls_verify:
        log.warning(
            "directory: tls_verify = false: the domain controller's certificate is not checked, "
            "so anyone on the path can pose as it; for tests only"
        )


def _bind(config: DirectoryConfig, host: str) -> ldap3.Connection:
    tls = None
    if config.tls != "plain":
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if config.tls_verify else ssl.CERT_NONE,
            ca_certs_file=str(config.ca_file) if config.ca_file else None,
        )
    server = ldap3.Server(
        host,
        port=config.effective_port,
        use_ssl=config.tls == "ldaps",
        tls=tls,
        get_info=ldap3.DSA,
        connect_timeout=config.connect_timeout,
    )
    conn = ldap3.Connection(
        server,
        user=config.bind_dn,
        password=config.password.get_secret_value(),
        authentication=ldap3.SIMPLE,
        auto_bind=ldap3.AUTO_BIND_NONE,
        auto_referrals=False,
        raise_exceptions=True,
        read_only=True,
        # ldap3 packs it into SO_RCVTIMEO as an integer: a fraction would fail every bind.
        receive_timeout=math.ceil(config.read_timeout),
    )
    try:
        conn.open()
        if config.tls == "starttls":
            conn.start_tls()
        conn.bind()
    except (lx.LDAPException, OSError) as exc:
        with contextlib.suppress(lx.LDAPException, OSError):
            conn.unbind()
        ldap_error = exc if isinstance(exc, lx.LDAPException) else ldap_error_for(exc)
        raise translate(ldap_error, config, host, "binding") from exc
    return conn


def ldap_error_for(exc: OSError) -> lx.LDAPException:
    """The ldap3 exception for a socket or TLS error, so that `translate` can judge it."""
    if isinstance(exc, ssl.SSLError):
        return lx.LDAPSocketOpenError(f"TLS error: {exc}")
    return lx.LDAPSocketOpenError(f"socket error: {exc}")
