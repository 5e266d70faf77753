"""The connector's `[actions]` settings: device actions relayed over WinRM, off by default.

Maps onto `onprem.winrm.WinRMConfig` (how devices are reached) and
`RelayOptions` (how many run at once, how often a transient failure is
tried, how long a claim waits; declared here, below the relay, so that the
settings never import `bridge.actions`), reusing the adapter's checks so a
problem reads the same here (`actions.auth: ... -> ...`). The password is a
secret: `SecretStr`, listed in the settings' `SECRET_KEYS` (so it may be a
`secret:NAME` reference into the encrypted store), never in `repr`, dumps,
error messages or `describe()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from onprem.winrm import WinRMConfig
from onprem.winrm.config import (
    check_host,
    check_timeouts,
    check_transport_auth,
    kerberos_available,
    problem,
)

# The tenant keeps at most this many characters of an action's output.
MAX_RESULT_CHARS = 32_000


@dataclass(frozen=True)
class RelayOptions:
    """Concurrency limits, retries and waits of the action relay.

    `retry_attempts` counts every attempt of a transient failure (1: no
    retry); waits between attempts grow exponentially from
    `retry_initial_seconds` up to `retry_max_seconds`, with jitter.
    `backlog` is how many claimed actions may wait locally for a slot
    (default: four per global slot). `report_retry_seconds` is how long a
    failed claim, start or report waits before it is tried again.
    """

    device_concurrency: int = 1
    global_concurrency: int = 8
    retry_attempts: int = 3
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    poll_wait_seconds: float = 30.0
    report_retry_seconds: float = 5.0
    backlog: int | None = None
    max_result_chars: int = MAX_RESULT_CHARS

    def __post_init__(self) -> None:
        if self.device_concurrency < 1 or self.global_concurrency < 1:
            raise ValueError("concurrency limits must be at least 1")
        if self.retry_attempts < 1:
            raise ValueError("retry_attempts counts the first attempt: at least 1")

    @property
    def pending_limit(self) -> int:
        """How many claimed actions the relay holds at once (running or waiting for a slot)."""
        return self.backlog or 4 * self.global_concurrency


_WINRM = WinRMConfig.model_fields
_RELAY = RelayOptions()


def _needs_credentials(info: ValidationInfo) -> bool:
    return info.data.get("enabled") is True and info.data.get("auth") in ("ntlm", "basic")


class ActionsSettings(BaseModel):
    """`[actions]`: whether the connector runs device actions, and how it reaches devices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # First, so that the other validators can see them.
    enabled: bool = False
    transport: Literal["https", "http"] = "https"
    auth: Literal["kerberos", "ntlm", "basic"] = _WINRM["auth"].default
    port: int | None = Field(default=None, ge=1, le=65535, description="default: by transport")
    username: str | None = Field(default=None, validate_default=True, max_length=256)
    password: SecretStr | None = Field(default=None, validate_default=True)
    ca_file: Path | None = Field(default=None, description="default: requests' CA bundle")
    validate_certs: bool = True
    device_concurrency: int = Field(default=_RELAY.device_concurrency, ge=1, le=16)
    global_concurrency: int = Field(default=_RELAY.global_concurrency, ge=1, le=512)
    operation_timeout: int = Field(default=_WINRM["operation_timeout"].default, ge=1, le=3600)
    read_timeout: int = Field(default=_WINRM["read_timeout"].default, ge=2, le=3660)
    command_timeout: float = Field(default=_WINRM["command_timeout"].default, gt=0, le=86_400)
    max_output_bytes: int = Field(
        default=_WINRM["max_output_bytes"].default, ge=0, le=16 * 1024 * 1024
    )
    retry_attempts: int = Field(default=_RELAY.retry_attempts, ge=1, le=10)
    poll_wait_seconds: float = Field(default=_RELAY.poll_wait_seconds, gt=0, le=300)
    # A device `cobridge doctor` and the installer connect to (TCP, then TLS) to check WinRM.
    test_host: str | None = Field(default=None, max_length=253)

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str, info: ValidationInfo) -> str:
        check_transport_auth(str(info.data.get("transport")), value)
        if value == "kerberos" and info.data.get("enabled") is True and not kerberos_available():
            raise problem(
                "kerberos needs a Kerberos library for pywinrm, and none is installed",
                'install pykerberos (pip install "pywinrm[kerberos]"), or use auth = "ntlm"',
            )
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None, info: ValidationInfo) -> str | None:
        if _needs_credentials(info) and not (value or "").strip():
            raise problem(
                f"missing, and actions are enabled with {info.data.get('auth')} authentication",
                'add username = "CORP\\\\svc-cobridge" under [actions]',
            )
        return value.strip() if value else value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if _needs_credentials(info) and not value:
            raise problem(
                f"missing, and actions are enabled with {info.data.get('auth')} authentication",
                'add password = "secret:winrm_password" under [actions] and store it with '
                "`cobridge secrets set winrm_password`",
            )
        return value

    @field_validator("test_host")
    @classmethod
    def _test_host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return check_host(value)
        except ValueError:
            raise problem(
                "not a host name or address",
                'give a device\'s FQDN, e.g. test_host = "wks0001.corp.example"',
            ) from None

    @field_validator("global_concurrency")
    @classmethod
    def _concurrency(cls, value: int, info: ValidationInfo) -> int:
        device = info.data.get("device_concurrency")
        if isinstance(device, int) and device > value:
            raise problem(
                f"{value} is below device_concurrency ({device})",
                f"set global_concurrency to at least {device}, or lower device_concurrency",
            )
        return value

    @field_validator("read_timeout")
    @classmethod
    def _timeouts(cls, value: int, info: ValidationInfo) -> int:
        operation = info.data.get("operation_timeout")
        if isinstance(operation, int):
            check_timeouts(operation, value)
        return value

    def winrm_config(self) -> WinRMConfig:
        """The WinRM adapter's configuration (only for an enabled section)."""
        if not self.enabled:
            raise ValueError("the [actions] section is not enabled")
        return WinRMConfig(
            **self.model_dump(
                include={
                    "transport",
                    "port",
                    "auth",
                    "username",
                    "ca_file",
                    "validate_certs",
                    "operation_timeout",
                    "read_timeout",
                    "command_timeout",
                    "max_output_bytes",
                }
            ),
            password=self.password,
        )

    def relay_options(self) -> RelayOptions:
        """How the relay schedules, retries and waits."""
        return RelayOptions(
            device_concurrency=self.device_concurrency,
            global_concurrency=self.global_concurrency,
            retry_attempts=self.retry_attempts,
            poll_wait_seconds=self.poll_wait_seconds,
        )

    def describe(self) -> str:
        """One line for `status` and logs; never the password."""
        if not self.enabled:
            return "off"
        return (
            f"{self.winrm_config().describe()}; {self.device_concurrency} per device, "
            f"{self.global_concurrency} at once"
        )


EXAMPLE = f"""
[actions]
# Device actions from the cloud tenant (policy sync, app evaluation, hardware
# inventory, approved scripts, restarts), run on devices over WinRM.
# Optional; off unless enabled = true.
enabled = false
# "https" (port 5986, the default) or "http" (5985; only with ntlm or
# kerberos, whose message encryption then protects commands; logged as a
# warning). port = 5986 overrides the port.
transport = "https"
# "kerberos" (a ticket for the connector's account; needs pykerberos),
# "ntlm" or "basic" (https only).
auth = "{_WINRM["auth"].default}"
username = "CORP\\\\svc-cobridge"
# A secret: store it with `cobridge secrets set winrm_password`.
# password = "secret:winrm_password"
# The CA that issued the devices' WinRM certificates; default: requests' bundle.
# ca_file = "/etc/cobridge/winrm-ca.pem"
validate_certs = true
# Actions running at once on one device, and in all.
device_concurrency = {_RELAY.device_concurrency}
global_concurrency = {_RELAY.global_concurrency}
# Seconds: a device may hold a request for operation_timeout, a read waits
# read_timeout (it must be longer), a command runs at most command_timeout.
operation_timeout = {_WINRM["operation_timeout"].default}
read_timeout = {_WINRM["read_timeout"].default}
command_timeout = {int(_WINRM["command_timeout"].default)}
# Bytes of a command's output kept (stdout and stderr together).
max_output_bytes = {_WINRM["max_output_bytes"].default}
# Attempts for a transient failure (unreachable, timed out, busy); a script
# or restart is tried again only when it certainly never reached the device.
retry_attempts = {_RELAY.retry_attempts}
# Seconds a claim waits for new actions (long poll).
poll_wait_seconds = {int(_RELAY.poll_wait_seconds)}
# A device `cobridge doctor` connects to (TCP and TLS) to check that WinRM is reachable.
# test_host = "wks0001.corp.example"
"""
