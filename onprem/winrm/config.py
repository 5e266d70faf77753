"""How the WinRM adapter reaches devices: transport, port, authentication, trust and limits.

`WinRMConfig` is owned here; the connector's `[actions]` settings map onto
it. HTTPS (port 5986) is the default. Plain HTTP (5985) is only used when
configured, and then only with NTLM or Kerberos, whose message encryption
protects the commands and their output; basic authentication over plain HTTP
would send the password in clear and is refused. The checks are plain
functions, so the settings report the same problems under their own keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

Transport = Literal["https", "http"]
AuthMethod = Literal["kerberos", "ntlm", "basic"]
DEFAULT_PORTS: dict[str, int] = {"https": 5986, "http": 5985}
# Auth methods whose message encryption pywinrm applies on a plain HTTP listener.
ENCRYPTING_AUTH = frozenset({"kerberos", "ntlm"})
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]{2,45}$")


def problem(what: str, fix: str) -> PydanticCustomError:
    """A configuration problem in the connector's `what -> fix` form."""
    return PydanticCustomError("cobridge_config", "{what} -> {fix}", {"what": what, "fix": fix})


def kerberos_available() -> bool:
    """Whether pywinrm can authenticate with Kerberos here (its Kerberos library is installed)."""
    from winrm import transport

    return bool(transport.HAVE_KERBEROS)


def check_transport_auth(transport: str, auth: str) -> None:
    """Refuse a combination that would expose the password or the commands."""
    if transport == "http" and auth not in ENCRYPTING_AUTH:
        raise problem(
            f"{auth} authentication over plain http sends the password and every command in clear",
            'use transport = "https" (port 5986), or auth = "ntlm" or "kerberos"',
        )


def check_timeouts(operation_timeout: int, read_timeout: int) -> None:
    """pywinrm's rule: an HTTP read must outlast the WS-Management operation it waits for."""
    if read_timeout <= operation_timeout:
        raise problem(
            f"{read_timeout} is not above operation_timeout ({operation_timeout})",
            f"set read_timeout to at least {operation_timeout + 10}: a read must outlast "
            "the operation the device may hold it for",
        )


def check_host(host: str) -> str:
    """A device's DNS name or address, as WinRM endpoints are built from it (ValueError if not)."""
    cleaned = host.strip().strip("[]")
    if _HOST.match(cleaned) or (":" in cleaned and _IPV6.match(cleaned)):
        return cleaned
    raise ValueError(f"{host[:80]!r} is not a host name or address")


class WinRMConfig(BaseModel):
    """Everything the WinRM client needs besides the device's host name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Transport = "https"
    port: int | None = Field(default=None, ge=1, le=65535, description="default: by transport")
    auth: AuthMethod = "ntlm"
    # Kerberos takes its credential from the ticket cache; username names the principal.
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(default=None, description="default: requests' CA bundle")
    validate_certs: bool = True
    # Seconds. The device may hold a Receive for operation_timeout; a read waits read_timeout.
    operation_timeout: int = Field(default=20, ge=1, le=3600)
    read_timeout: int = Field(default=30, ge=2, le=3660)
    # Seconds a command may run before it is terminated and reported timed out.
    command_timeout: float = Field(default=300, gt=0, le=86_400)
    # Bytes of stdout and stderr kept per command; the rest is dropped and flagged.
    max_output_bytes: int = Field(default=32_000, ge=0, le=16 * 1024 * 1024)

    @model_validator(mode="after")
    def _consistent(self) -> WinRMConfig:
        check_transport_auth(self.transport, self.auth)
        check_timeouts(self.operation_timeout, self.read_timeout)
        if self.auth != "kerberos" and (not self.username or self.password is None):
            raise problem(
                f"{self.auth} authentication needs a username and a password",
                "set both, or use kerberos with a ticket for the connector's account",
            )
        return self

    @property
    def effective_port(self) -> int:
        """The configured port, else the transport's default (5986 or 5985)."""
        return self.port or DEFAULT_PORTS[self.transport]

    @property
    def message_encryption(self) -> Literal["always", "never"]:
        """WS-Management message encryption: needed on plain HTTP, redundant under TLS."""
        return "always" if self.transport == "http" else "never"

    def endpoint(self, host: str) -> str:
        """The WS-Management URL of a device (ValueError for a host that is not a name or address)."""
        name = check_host(host)
        shown = f"[{name}]" if ":" in name else name
        return f"{self.transport}://{shown}:{self.effective_port}/wsman"

    def describe(self) -> str:
        """One line for status and logs; never the password."""
        trust = (
            "certificates not validated" if not self.validate_certs else "certificates validated"
        )
        if self.transport == "http":
            trust = "plain http, message encryption"
        who = f" as {self.username}" if self.username else ""
        return f"{self.transport} port {self.effective_port}, {self.auth}{who}, {trust}"
