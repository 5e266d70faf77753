"""Checks of what the connector talks to: the site database, the directory, the cloud.

WinRM is checked in `checks_winrm`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa

from installer.checks import CheckInput, CheckResult, result
from installer.probe import Answer, ProbeError, error_message, request
from onprem.directory.connection import DirectoryConnection
from onprem.errors import DirectoryError, SiteError, SiteSchemaMismatch
from onprem.site_database import create_site_engine, describe_url, site_errors
from onprem.site_reader import SiteReader
from onprem.site_schema import REQUIRED_VIEWS

SKEW_FAIL = timedelta(minutes=5)
SKEW_WARN = timedelta(minutes=2)


def _select_each_view(engine: sa.Engine) -> None:
    # The catalog may list a view the account cannot SELECT from (SQL Server grants).
    with site_errors(engine, "reading the site views"), engine.connect() as conn:
        for view in REQUIRED_VIEWS:
            columns = [sa.column(c.name) for c in view.columns]
            stmt = sa.select(*columns).select_from(sa.table(view.name)).where(sa.false())
            with site_errors(engine, f"reading {view.name}"):
                conn.execute(stmt).all()


def check_site(target: CheckInput) -> list[CheckResult]:
    """The site database answers, and every required view and column is readable."""
    name = "site database"
    url = target.site.url()
    where = describe_url(url)
    engine = create_site_engine(url, must_exist=True)
    try:
        identity = SiteReader(engine).check()
        _select_each_view(engine)
    except SiteSchemaMismatch as exc:
        return result(
            name,
            "FAIL",
            f"{where} lacks {', '.join(exc.missing)}",
            "point site.db at the site database (CM_<site code>) and grant the account SELECT "
            "on those views",
        )
    except SiteError as exc:
        return result(name, "FAIL", exc.message, exc.hint)
    finally:
        engine.dispose()
    hierarchy = target.site.hierarchy_id or identity.hierarchy_id
    if hierarchy is None:
        return result(
            name,
            "FAIL",
            f"{where} records no hierarchy id, and none is given",
            'give [site] hierarchy_id = "contoso-ps1" (the id the tenant will know it by)',
        )
    detail = (
        f"{where}: site {identity.site_code or '?'} ({identity.site_name or 'unnamed'}), "
        f"hierarchy {hierarchy}; {len(REQUIRED_VIEWS)} views readable"
    )
    return result(name, "PASS", detail)


def check_directory(target: CheckInput) -> list[CheckResult]:
    """A bind as the service account, and every base DN found (when the directory is on)."""
    name = "directory"
    if not target.directory.enabled:
        return result(name, "SKIP", "not enabled ([directory] is optional)")
    config = target.directory.config()
    # ldap3 packs the receive timeout into SO_RCVTIMEO as an integer; the
    # settings hand it over as a float, which ldap3 fails on (struct.error).
    config = config.model_copy(update={"read_timeout": math.ceil(config.read_timeout)})
    try:
        with DirectoryConnection.open(config) as conn:
            for base in config.base_dns:
                conn.require_base(base)
            host = conn.host
    except DirectoryError as exc:
        return result(name, "FAIL", exc.message, exc.hint)
    detail = f"bound to {host} as {config.bind_dn}; {len(config.base_dns)} base DN(s) found"
    return result(name, "PASS", detail)


def _listener(name: str, url: str, target: CheckInput) -> tuple[list[CheckResult], Answer | None]:
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 443}"
    try:
        answer = request(url, target.cloud.ca_file)
    except ProbeError as exc:
        return result(name, "FAIL", exc.message, exc.hint), None
    if answer.status != 200:
        detail = f"{where} answered /healthz with {error_message(answer)}"
        return result(name, "WARN", detail, "the service is up but not ready: see its logs"), answer
    trust = "" if parts.scheme == "https" else " (plain HTTP: for tests only)"
    detail = f"{where} answered /healthz; certificate chain trusted by {target.cloud.ca_file}"
    return result(name, "PASS" if not trust else "WARN", detail + trust), answer


def check_cloud(target: CheckInput) -> list[CheckResult]:
    """Both listeners reachable with a trusted chain; the clock close to the service's."""
    cloud = target.cloud
    results, first = _listener("cloud connector URL", cloud.connector_url, target)
    if cloud.api_url:
        found, answer = _listener("cloud API URL", cloud.api_url, target)
        results += found
        first = first or answer
    else:
        results += result(
            "cloud API URL", "SKIP", "not given (only shown as the admin center link)"
        )
    return results + _clock(first)


def _clock(answer: Answer | None) -> list[CheckResult]:
    name = "clock skew"
    if answer is None:
        return result(name, "SKIP", "the service did not answer, so its clock is unknown")
    if answer.date is None:
        return result(
            name, "WARN", "the service's answer had no Date header", "check for a proxy in between"
        )
    skew = answer.date - datetime.now(UTC)
    seconds = skew.total_seconds()
    side = "behind" if seconds > 0 else "ahead of"
    detail = f"this host is {abs(seconds):.0f} s {side} the service's clock"
    fix = "synchronise this host's clock (NTP: chrony or systemd-timesyncd), then re-run"
    if abs(skew) > SKEW_FAIL:
        return result(name, "FAIL", detail + f" (more than {SKEW_FAIL.seconds // 60} min)", fix)
    if abs(skew) > SKEW_WARN:
        return result(name, "WARN", detail, fix)
    return result(name, "PASS", detail + " (Date header of /healthz, 1 s resolution)")
