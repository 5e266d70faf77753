"""`cobridge demo`: the whole system on one machine with embedded defaults.

Today it seeds an embedded site in the data directory (once) and prints its
summary; the cloud service and the connector join it as they land.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import sqlalchemy as sa

from bridge.cli.output import console, print_site_summary, progress_bar
from onprem.site_database import create_site_engine
from onprem.site_generator import seed_site
from onprem.site_reader import SiteReader
from onprem.site_schema import v_R_System
from onprem.site_store import migrate_site
from onprem.site_summary import summarize_site

DEFAULT_DEVICES = 5000


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="Where the demo keeps its databases.",
)
@click.option(
    "--devices", type=click.IntRange(1, 5_000_000), default=DEFAULT_DEVICES, show_default=True
)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True)
@click.option("--reset", is_flag=True, help="Re-seed the embedded site even if it exists.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON summary line instead of tables."
)
def demo(data_dir: Path, devices: int, seed_value: int, reset: bool, as_json: bool) -> None:
    """Run cobridge on embedded defaults and show where to look."""
    from bridge.cli.onprem_commands import today_utc

    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    site_path = (data_dir / "site.db").resolve()
    engine = create_site_engine(f"sqlite:///{site_path}")
    try:
        migrate_site(engine)
        with engine.connect() as conn:
            existing = conn.execute(sa.select(sa.func.count()).select_from(v_R_System)).scalar_one()
        if reset or existing == 0:
            with progress_bar(devices, f"seeding {devices:,} devices") as advance:
                seed_site(
                    engine,
                    devices=devices,
                    seed=seed_value,
                    as_of=today_utc(),
                    replace=True,
                    progress=advance,
                )
        summary = summarize_site(SiteReader(engine))
    finally:
        engine.dispose()
    seconds = round(time.perf_counter() - started, 2)
    if as_json:
        payload = summary.model_dump(mode="json", exclude={"reject_samples"})
        click.echo(json.dumps({**payload, "site_db": str(site_path), "seconds": seconds}))
        return
    out = console()
    print_site_summary(summary, out)
    out.print(f"\nEmbedded site database: [bold]{site_path}[/bold] (ready in {seconds} s)")
    out.print("Try:")
    out.print(f"  .venv/bin/cobridge onprem summary --db {site_path}")
    out.print(f"  .venv/bin/cobridge onprem touch --db {site_path} --devices 100")
    out.print(f"  .venv/bin/cobridge onprem rejects --db {site_path}")
