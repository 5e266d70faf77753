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
