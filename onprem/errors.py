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
