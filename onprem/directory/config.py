"""How the directory adapter reaches and reads Active Directory.

`DirectoryConfig` is owned here; the connector's `[directory]` settings map
onto it. Its checks are plain functions (`check_hosts`, `check_base_dns`,
`check_filter`) so that the settings can report the same problems under their
own keys. Each raises a `PydanticCustomError` of type `cobridge_config` whose
message reads `what -> how to fix`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

TlsMode = Literal["ldaps", "starttls", "plain"]
DeltaMode = Literal["dirsync", "usn"]
DEFAULT_FILTER = "(objectClass=computer)"
DEFAULT_PORTS: dict[str, int] = {"ldaps": 636, "starttls": 389, "plain": 389}
# AD's default MaxPageSize: a larger page is silently cut to it.
AD_PAGE_LIMIT = 1000
_HOST = re.compile(r"^[A-Za-z0-9._-]{1,253}$|^\[?[0-9A-Fa-f:.]+\]?$")

DnKey = tuple[tuple[str, str], ...]


def problem(what: str, fix: str) -> PydanticCustomError:
    """A configuration problem in the connector's `what -> fix` form."""
    return PydanticCustomError("cobridge_config", "{what} -> {fix}", {"what": what, "fix": fix})


def dn_key(dn: str) -> DnKey:
    """A DN's RDNs, case-folded and stripped, for comparing DNs (raises LDAPInvalidDnError)."""
    return tuple((attr.lower(), value.lower()) for attr, value, _ in parse_dn(dn, strip=True))


def is_under(dn: DnKey, base: DnKey) -> bool:
    """Whether `dn` is `base` or lies below it."""
    return len(dn) >= len(base) and dn[len(dn) - len(base) :] == base


def check_hosts(hosts: tuple[str, ...]) -> tuple[str, ...]:
    """Host names or addresses of domain controllers, tried in order."""
    cleaned = tuple(h.strip() for h in hosts)
    if not cleaned:
        raise problem("no domain controller named", 'list one: hosts = ["dc1.corp.example.com"]')
    for host in cleaned:
        if not _HOST.match(host):
            raise problem(
                f"{host[:60]!r} is not a host name or address",
                "give the DC's DNS name without ldap:// or a port (the port is its own key)",
            )
    return cleaned


def check_base_dns(base_dns: tuple[str, ...]) -> tuple[str, ...]:
    """Distinguished names to read below: valid, and none inside another (no double reads)."""
    cleaned = tuple(dn.strip() for dn in base_dns)
    if not cleaned:
        raise problem("no base DN", f'list one: base_dns = ["OU=Computers,{EXAMPLE_DOMAIN}"]')
    keys = []
    for dn in cleaned:
        try:
            key = dn_key(dn)
        except LDAPInvalidDnError:
            key = ()
        if not key:
            raise problem(f"{dn[:80]!r} is not a distinguished name", "write it as OU=...,DC=...")
        keys.append(key)
    for i, key in enumerate(keys):
        for j, other in enumerate(keys):
            if i != j and is_under(key, other):
                raise problem(
                    f"{cleaned[i][:80]!r} lies inside {cleaned[j][:80]!r}",
                    f"list only {cleaned[j][:80]!r}: it already covers the other",
                )
    return cleaned


def check_filter(text: str) -> str:
    """An LDAP filter in parentheses with balanced parentheses (the DC checks the rest)."""
    text = text.strip()
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if not text.startswith("(") or not text.endswith(")") or depth != 0:
        raise problem(
            f"{text[:80]!r} is not an LDAP filter",
            f"write it in parentheses, such as {DEFAULT_FILTER} or "
            "(&(objectClass=computer)(operatingSystem=Windows*))",
        )
    return text


EXAMPLE_DOMAIN = "DC=corp,DC=example,DC=com"


class DirectoryConfig(BaseModel):
    """Domain controllers, transport security, the service account and what to read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hosts: tuple[str, ...]
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: TlsMode = "ldaps"
    # None: the system's trust store.
    ca_file: Path | None = None
    # False only for tests against a DC with a throwaway certificate (logged as a warning).
    tls_verify: bool = True
    bind_dn: str = Field(min_length=1, max_length=1024)
    password: SecretStr
    base_dns: tuple[str, ...]
    filter: str = DEFAULT_FILTER
    page_size: int = Field(default=AD_PAGE_LIMIT, ge=1, le=AD_PAGE_LIMIT)
    delta: DeltaMode = "dirsync"
    connect_timeout: float = Field(default=10, gt=0, le=300)
    read_timeout: float = Field(default=120, gt=0, le=3600)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_hosts(value)

    @field_validator("base_dns")
    @classmethod
    def _bases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_base_dns(value)

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str) -> str:
        return check_filter(value)

    @property
    def effective_port(self) -> int:
        """The configured port, or the TLS mode's standard one."""
        return self.port or DEFAULT_PORTS[self.tls]

    def scope(self) -> str:
        """A digest of what is read (base DNs and filter): a cursor is valid only for its scope."""
        bases = sorted(repr(dn_key(dn)) for dn in self.base_dns)
        text = "\n".join([*bases, self.filter.lower()])
        return hashlib.sha256(text.encode()).hexdigest()[:32]
