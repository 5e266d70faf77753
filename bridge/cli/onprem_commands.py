"""`cobridge onprem ...`: seed, change, check and summarise a site database."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime

import click

from bridge.cli.output import console, print_site_summary, progress_bar
from onprem.errors import SiteError
from onprem.site_database import create_site_engine, describe_url, parse_site_url
from onprem.site_generator import seed_site, touch_site
from onprem.site_reader import SiteReader
from onprem.site_records import RejectedRecord
from onprem.site_store import migrate_site, missing_site_columns, read_site_identity
from onprem.site_summary import summarize_site

DB_OPTION = click.option(
    "--db",
    "db",
    envvar="COBRIDGE_SITE_DB",
    required=True,
    metavar="URL",
    help="Site database: a file path (SQLite), postgresql://… or mssql://… [env COBRIDGE_SITE_DB]",
)


def today_utc() -> datetime:
    """Midnight UTC today, naive, the default anchor for generated dates."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day)


def _site_code(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]{3}", value):
        raise click.BadParameter("a site code is exactly 3 letters or digits, e.g. PS1")
    return value.upper()


@click.group()
def onprem() -> None:
    """Work with a configuration-manager site database (or an embedded copy)."""


@onprem.command()
@DB_OPTION
@click.option(
    "--devices", type=click.IntRange(1, 5_000_000), required=True, help="Devices to generate."
)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Date the generated data is anchored to [default: today, UTC].",
)
@click.option("--site-code", default="PS1", show_default=True, callback=_site_code)
@click.option("--replace", is_flag=True, help="Empty a site that already holds devices first.")
@click.option("--json", "as_json", is_flag=True, help="Print the seed report as JSON.")
def seed(
    db: str,
    devices: int,
    seed_value: int,
    as_of: datetime | None,
    site_code: str,
    replace: bool,
    as_json: bool,
) -> None:
    """Create an embedded site database filled with realistic devices (deterministic per seed)."""
    engine = create_site_engine(parse_site_url(db))
    try:
        migrate_site(engine)
        with progress_bar(devices, f"seeding {devices:,} devices") as advance:
            report = seed_site(
                engine,
                devices=devices,
                seed=seed_value,
                as_of=as_of or today_utc(),
                site_code=site_code,
                replace=replace,
                progress=advance,
            )
    finally:
        engine.dispose()
    if as_json:
        click.echo(report.model_dump_json())
        return
    invalid = sum(len(ids) for ids in report.invalid.values())
    click.echo(
        f"Seeded site {report.site_code} (hierarchy {report.hierarchy_id}) in {describe_url(engine.url)}: "
        f"{report.devices:,} records, {report.with_agent:,} with the agent, {report.co_managed:,} co-managed, "
        f"{report.obsolete_twins:,} obsolete twins, {invalid:,} invalid, "
        f"{report.collections:,} collections, {report.memberships:,} memberships."
    )


@onprem.command()
@DB_OPTION
@click.option(
    "--devices", type=click.IntRange(1, 5_000_000), required=True, help="Devices to modify."
)
@click.option("--seed", "seed_value", type=int, default=None, help="Random seed [default: random].")
@click.option("--json", "as_json", is_flag=True, help="Print the changed ResourceIDs as JSON.")
def touch(db: str, devices: int, seed_value: int | None, as_json: bool) -> None:
    """Modify DEVICES devices, add about a tenth as many and delete about a twentieth."""
    seed_value = seed_value if seed_value is not None else random.SystemRandom().randrange(1, 2**31)
    engine = create_site_engine(parse_site_url(db))
    try:
        report = touch_site(
            engine, devices=devices, seed=seed_value, as_of=datetime.now(UTC).replace(tzinfo=None)
        )
    finally:
        engine.dispose()
    if as_json:
        click.echo(report.model_dump_json())
        return
    click.echo(
        f"Touched the site (seed {seed_value}): {len(report.modified):,} modified, "
        f"{len(report.added):,} added, {len(report.deleted):,} deleted."
    )


@onprem.command()
@DB_OPTION
def check(db: str) -> None:
    """Check that every view and column the connector reads is there; show the site's identity."""
    engine = create_site_engine(parse_site_url(db))
    try:
        missing = missing_site_columns(engine)
        if missing:
            for name in missing:
                click.echo(f"FAIL  missing {name}")
            raise SiteError(
                f"{len(missing)} required view(s) or column(s) missing in {describe_url(engine.url)}",
                hint="grant SELECT on the views listed above, or check the site's version",
            )
        identity = read_site_identity(engine)
    finally:
        engine.dispose()
    click.echo(f"PASS  every required view and column is readable in {describe_url(engine.url)}")
    click.echo(
        f"      site {identity.site_code or '?'} ({identity.site_name or 'unnamed'}), version {identity.version or '?'}"
    )
    click.echo(f"      instance {identity.instance_id}")


@onprem.command()
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(db: str, as_json: bool) -> None:
    """Read the whole site once and summarise it: devices, agents, OSes, dirty data, rejects."""
    engine = create_site_engine(parse_site_url(db))
    try:
        reader = SiteReader(engine)
        reader.check()
        result = summarize_site(reader)
    finally:
        engine.dispose()
    if as_json:
        click.echo(result.model_dump_json())
    else:
        print_site_summary(result, console())


@onprem.command()
@DB_OPTION
def rejects(db: str) -> None:
    """List every record the reader rejects, one JSON object per line, with its reason."""
    engine = create_site_engine(parse_site_url(db))
    try:
        reader = SiteReader(engine)
        reader.check()
        read = reader.read()
        for item in read:
            if isinstance(item, RejectedRecord):
                click.echo(item.model_dump_json())
    finally:
        engine.dispose()
    click.echo(json.dumps({"rows": read.stats.rows, "rejected": read.stats.rejected}), err=True)
