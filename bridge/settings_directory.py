"""The connector's `[directory]` settings: Active Directory computer objects, off by default.

Maps onto `onprem.directory.DirectoryConfig`, reusing its checks so that a
problem reads the same here (`directory.base_dns: ... -> ...`). The bind
password is a secret: `SecretStr`, listed in `SECRET_KEYS` of the settings,
never in `repr`, dumps, error messages or `describe()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from onprem.directory import DEFAULT_FILTER, DirectoryConfig
from onprem.directory.config import (
    DEFAULT_PORTS,
    EXAMPLE_DOMAIN,
    check_base_dns,
    check_filter,
    check_hosts,
    problem,
)

_DEFAULTS = DirectoryConfig.model_fields
EXAMPLE_BIND_DN = f"CN=svc-cobridge,OU=Service Accounts,{EXAMPLE_DOMAIN}"
_REQUIRED_WHEN_ENABLED = {
    "hosts": 'hosts = ["dc1.corp.example.com"]',
    "bind_dn": f'bind_dn = "{EXAMPLE_BIND_DN}"',
    "password": 'password = "..." (or COBRIDGE_CONNECTOR_DIRECTORY__PASSWORD)',
    "base_dns": f'base_dns = ["OU=Workstations,{EXAMPLE_DOMAIN}"]',
}


def _required(value: object, info: ValidationInfo) -> object:
    # A field validator (not a model one), so each missing key is reported by name.
    if info.data.get("enabled") is True and not value:
        raise problem(
            "missing, and the directory is enabled",
            f"add {_REQUIRED_WHEN_ENABLED[str(info.field_name)]} under [directory]",
        )
    return value


class DirectorySettings(BaseModel):
    """`[directory]`: which domain controllers, how to bind, and which computers to read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # First, so that the other validators can see it.
    enabled: bool = False
    hosts: tuple[str, ...] = Field(default=(), validate_default=True)
    port: int | None = Field(default=None, ge=1, le=65535, description="default: by tls")
    tls: Literal["ldaps", "starttls", "plain"] = _DEFAULTS["tls"].default
    ca_file: Path | None = Field(default=None, description="default: the system trust store")
    tls_verify: bool = True
    bind_dn: str | None = Field(default=None, validate_default=True, max_length=1024)
    password: SecretStr | None = Field(default=None, validate_default=True)
    base_dns: tuple[str, ...] = Field(default=(), validate_default=True)
    filter: str = DEFAULT_FILTER
    page_size: int = Field(default=_DEFAULTS["page_size"].default, ge=1, le=1000)
    delta: Literal["dirsync", "usn"] = _DEFAULTS["delta"].default
    connect_timeout: float = Field(default=_DEFAULTS["connect_timeout"].default, gt=0, le=300)
    read_timeout: float = Field(default=_DEFAULTS["read_timeout"].default, gt=0, le=3600)

    @field_validator("bind_dn", "password")
    @classmethod
    def _account(cls, value: object, info: ValidationInfo) -> object:
        return _required(value, info)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return check_hosts(value) if _required(value, info) else value

    @field_validator("base_dns")
    @classmethod
    def _bases(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return check_base_dns(value) if _required(value, info) else value

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str) -> str:
        return check_filter(value)

    def config(self) -> DirectoryConfig:
        """The adapter's configuration (only for an enabled section, which has every key)."""
        if not self.enabled or self.password is None or self.bind_dn is None:
            raise ValueError("the [directory] section is not enabled")
        return DirectoryConfig(
            **self.model_dump(exclude={"enabled", "password"}), password=self.password
        )

    def describe(self) -> str:
        """One line for `status` and logs; never the password."""
        if not self.enabled:
            return "off"
        port = self.port or DEFAULT_PORTS[self.tls]
        return (
            f"{self.tls} {', '.join(self.hosts)} port {port} as {self.bind_dn}, "
            f"{len(self.base_dns)} base DN(s), {self.delta} deltas"
        )


EXAMPLE = f"""
[directory]
# Active Directory computer objects (optional; off unless enabled = true).
enabled = false
# Domain controllers, tried in order. A delta must come from the DC that
# gave its cursor: switching to the next one costs a full read.
hosts = ["dc1.corp.example.com", "dc2.corp.example.com"]
# "ldaps" (port 636) or "starttls" (389); "plain" sends the password
# unencrypted and is logged as a warning. port = 636 overrides the port.
tls = "ldaps"
# The CA that issued the DCs' certificates; default: the system trust store.
# ca_file = "/etc/cobridge/ad-root.pem"
# The service account (a DN or user@domain). DirSync deltas need the
# "Replicating Directory Changes" right on the domain. delta = "usn" needs
# no such right, but sees deletes only if the account may read the
# tombstones in CN=Deleted Objects; otherwise only a full read finds them.
bind_dn = "{EXAMPLE_BIND_DN}"
# A secret: prefer COBRIDGE_CONNECTOR_DIRECTORY__PASSWORD to writing it here.
# password = "..."
# Where computers are read, below each of these (none inside another).
base_dns = ["OU=Workstations,{EXAMPLE_DOMAIN}", "OU=Servers,{EXAMPLE_DOMAIN}"]
filter = "{DEFAULT_FILTER}"
# Objects per page (Active Directory serves at most 1000), and "dirsync" or "usn".
page_size = {_DEFAULTS["page_size"].default}
delta = "{_DEFAULTS["delta"].default}"
"""
