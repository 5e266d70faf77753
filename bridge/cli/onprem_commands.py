"""`cobridge onprem ...`: check and summarise a site database, and list its rejects.

The demo's `seed` and `touch` join this group in the console (`installer.demo.site_commands`).
"""

from __future__ import annotations

import json

import click

from bridge.cli.output import console, print_site_summary
from bridge.runtime.site import site_reader
from onprem.errors import SiteError
from onprem.site_database import create_site_engine, describe_url, parse_site_url
from onprem.site_records import RejectedRecord
from onprem.site_store import missing_site_columns, read_site_identity
from onprem.site_summary import summarize_site

DB_OPTION = click.option(
    "--db",
    "db",
    envvar="COBRIDGE_SITE_DB",
    required=True,
    metavar="URL",
    help="Site database: a file path (SQLite), postgresql://… or mssql://… [env COBRIDGE_SITE_DB]",
)


@click.group()
def onprem() -> None:
    """Work with a configuration-manager site database (or an embedded copy)."""


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
        reader = site_reader(engine)
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
        reader = site_reader(engine)
        reader.check()
        read = reader.read()
        for item in read:
            if isinstance(item, RejectedRecord):
                click.echo(item.model_dump_json())
    finally:
        engine.dispose()
    click.echo(json.dumps({"rows": read.stats.rows, "rejected": read.stats.rejected}), err=True)
