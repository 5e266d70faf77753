"""`cobridge onprem seed` and `touch`: the demo's site generator on the command line.

The console adds both to the connector's `onprem` group; they fill and change
an embedded site database, never a real one.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import click

from bridge.cli.onprem_commands import DB_OPTION
from bridge.cli.output import progress_bar
from installer.demo.site_generator import seed_site, touch_site
from onprem.site_database import create_site_engine, describe_url, parse_site_url
from onprem.site_store import migrate_site


def today_utc() -> datetime:
    """Midnight UTC today, naive, the default anchor for generated dates."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day)


def _site_code(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]{3}", value):
        raise click.BadParameter("a site code is exactly 3 letters or digits, e.g. PS1")
    return value.upper()


@click.command()
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


@click.command()
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


SITE_GENERATOR_COMMANDS: tuple[click.Command, ...] = (seed, touch)
