"""Errors raised by the on-prem adapters, each naming what failed and what to check."""

from __future__ import annotations

from workloads.errors import CobridgeError


class SiteError(CobridgeError):
    """Any failure talking to the site database."""

    code = "site_error"


class SiteUnreachable(SiteError):
    """The site database could not be reached or refused the connection."""

    code = "site_unreachable"


class SiteSchemaMismatch(SiteError):
    """The site database lacks views or columns the reader needs (an unexpected version)."""

    code = "site_schema_mismatch"

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        super().__init__(
            f"the site database lacks {len(missing)} required view(s) or column(s): {shown}",
            hint="point --db at a site database (CM_<site code>) of a supported version, "
            "and grant the account SELECT on these views",
        )


class SiteReadFailed(SiteError):
    """A read started but did not complete; nothing read may be treated as complete."""

    code = "site_read_failed"


class InvalidSiteUrl(SiteError):
    """The site database URL cannot be used."""

    code = "invalid_site_url"


class DirectoryError(CobridgeError):
    """Any failure talking to the directory (Active Directory over LDAP)."""

    code = "directory_error"


class DirectoryUnreachable(DirectoryError):
    """No configured domain controller answered."""

    code = "directory_unreachable"


class DirectoryBindRejected(DirectoryError):
    """The domain controller refused the service account's bind (name or password)."""

    code = "directory_bind_rejected"


class DirectoryTlsRequired(DirectoryError):
    """The domain controller requires an encrypted connection for a simple bind."""

    code = "directory_tls_required"


class DirectoryTlsUntrusted(DirectoryError):
    """The domain controller's certificate is not trusted, or names another host."""

    code = "directory_tls_untrusted"


class DirectoryBaseNotFound(DirectoryError):
    """A configured base DN does not exist: never read as "no computers"."""

    code = "directory_base_not_found"


class DirectoryEmptyRead(DirectoryError):
    """A full read found no computer at all: treated as a failure, so nothing is deleted."""

    code = "directory_empty_read"


class DirectoryNotPermitted(DirectoryError):
    """The service account lacks a right the configured read needs."""

    code = "directory_not_permitted"


class DirectoryReadFailed(DirectoryError):
    """A read started but did not complete; nothing read may be treated as complete."""

    code = "directory_read_failed"


class DirectoryResyncRequired(DirectoryError):
    """A delta cursor cannot be used any more; the caller must run a full read."""

    code = "directory_resync_required"


class DirectoryRestored(DirectoryResyncRequired):
    """The domain controller's invocationId changed (it was restored): USNs and cookies are void."""

    code = "directory_restored"


class SiteWriteFailed(SiteError):
    """A write to the site store did not complete; nothing of it was applied."""

    code = "site_write_failed"


class InvalidCoManagementSettings(SiteError):
    """Co-management settings were refused, or the site store holds settings that are not valid."""

    code = "invalid_co_management_settings"


class InvalidSmsId(SiteError):
    """A device key is not a client GUID (SMSID) of the form `GUID:XXXXXXXX-XXXX-...`."""

    code = "invalid_smsid"


class SiteStoreNotMigrated(SiteError):
    """The embedded site store lacks tables of this version: its schema must be upgraded."""

    code = "site_store_not_migrated"


class WinRMError(CobridgeError):
    """Any failure running a command on a device over WinRM.

    `transient`: another attempt may succeed (unreachable, timed out, a busy
    or failing server). `sent`: the command may have reached the device, so
    a command that must not run twice must not be tried again.
    """

    code = "winrm_error"
    transient = False

    def __init__(self, message: str, *, hint: str | None = None, sent: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.sent = sent


class WinRMUnreachable(WinRMError):
    """The device's WinRM listener could not be reached, or the connection broke."""

    code = "winrm_unreachable"
    transient = True


class WinRMTimeout(WinRMError):
    """The device did not answer, or the command did not finish, in time."""

    code = "winrm_timeout"
    transient = True


class WinRMServerBusy(WinRMError):
    """The device's WinRM service failed or refused for now (a 5xx, a quota, a WS-Man timeout)."""

    code = "winrm_server_busy"
    transient = True


class WinRMAuthRejected(WinRMError):
    """The device refused the configured account (401 or 403)."""

    code = "winrm_auth_rejected"


class WinRMTlsUntrusted(WinRMError):
    """The device's certificate is not trusted, or names another host."""

    code = "winrm_tls_untrusted"


class WinRMFault(WinRMError):
    """The device answered with a WS-Management fault that another attempt will not change."""

    code = "winrm_fault"


class WinRMBadResponse(WinRMError):
    """The device's answer is not the WS-Management answer expected (garbled, or unrelated)."""

    code = "winrm_bad_response"


class WinRMConfigurationError(WinRMError):
    """The WinRM client cannot be set up as configured (an auth method not installed)."""

    code = "winrm_configuration_error"


class WinRMCommandFailed(WinRMError):
    """The command ran and exited with a non-zero code; its output is kept."""

    code = "command_failed"

    def __init__(
        self, message: str, *, exit_code: int, output: str, truncated: bool, sent: bool = True
    ) -> None:
        super().__init__(message, sent=sent)
        self.exit_code = exit_code
        self.output = output
        self.truncated = truncated


class ClientActionRefused(WinRMError):
    """The agent's TriggerSchedule returned a non-zero ReturnValue (the schedule did not start)."""

    code = "client_action_refused"

    def __init__(self, message: str, *, return_value: int, output: str) -> None:
        super().__init__(
            message,
            hint="check that the site agent is healthy on the device (CcmExec running)",
            sent=True,
        )
        self.return_value = return_value
        self.output = output


class ScriptHashMismatch(WinRMError):
    """A script's text does not hash to its approved SHA-256: it is never sent."""

    code = "script_hash_mismatch"


class ScriptTooLarge(WinRMError):
    """A script is too long for one PowerShell command line: it is never sent."""

    code = "script_too_large"


class InvalidDeviceTarget(WinRMError):
    """A device's host name, or an action's schedule or delay, cannot be used: nothing is sent."""

    code = "invalid_device_target"
