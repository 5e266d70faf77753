"""`cobridge demo`: the whole system on one machine with embedded defaults.

Seeds an embedded site (once), starts the cloud tenant service and a
connector against it, waits for the first full sync and shows where to
look. It keeps running, so `cobridge onprem touch` shows deltas arriving,
until Ctrl-C. `--once` prints one JSON line and exits 0 only when the tenant
holds exactly what the site should have uploaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import shutil
import signal
import time
from pathlib import Path

import click

from bridge.cli.output import console, print_site_summary, progress_bar
from cloud.contract.devices import DeviceQuery
from installer.demo.rollout_command import run_demo_rollout
from installer.demo.system import (
    ADMIN,
    DEMO_PILOT_COLLECTION,
    TENANT,
    DemoSystem,
    Verification,
    seed_embedded_site,
)
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_summary import summarize_site
from workloads.errors import CobridgeError

DEFAULT_DEVICES = 5000
FIRST_SYNC_TIMEOUT = 600


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="Where the demo keeps its databases, keys and settings.",
)
@click.option(
    "--devices", type=click.IntRange(1, 5_000_000), default=DEFAULT_DEVICES, show_default=True
)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True)
@click.option("--reset", is_flag=True, help="Start again: a new site, tenant and connector.")
@click.option("--once", is_flag=True, help="Sync once, print one JSON line, exit 0 when exact.")
@click.option("--port", type=int, default=None, help="API port [default: 8443; --once: any free].")
@click.option("--connector-port", type=int, default=None, help="Connector port [default: 8444].")
@click.option(
    "--interval", type=float, default=15, show_default=True, help="Seconds between cycles."
)
@click.option(
    "--rollout",
    "with_rollout",
    is_flag=True,
    help="After the first sync, run a staged rollout (Windows Update to the cloud, 3 stages).",
)
def demo(
    data_dir: Path,
    devices: int,
    seed_value: int,
    reset: bool,
    once: bool,
    port: int | None,
    connector_port: int | None,
    interval: float,
    with_rollout: bool,
) -> None:
    """Run cobridge on embedded defaults and show where to look."""
    started = time.perf_counter()
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with progress_bar(devices, f"seeding {devices:,} devices", enabled=not once) as _advance:
        seed_embedded_site(data_dir / "site.db", devices, seed_value, reset=reset)
    default_port = 0 if once else 8443
    system = DemoSystem(
        data_dir,
        api_port=port if port is not None else default_port,
        connector_port=connector_port if connector_port is not None else (0 if once else 8444),
        interval=interval,
    )
    try:
        code = asyncio.run(_run(system, once=once, started=started, rollout=with_rollout))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise CobridgeError(
            f"a demo port is taken ({exc.strerror})",
            hint="stop what listens there, or pick others: --port 0 --connector-port 0 (any free)",
        ) from None
    raise SystemExit(code)


async def _run(system: DemoSystem, *, once: bool, started: float, rollout: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with system.started():
        await system.wait_first_cycle(FIRST_SYNC_TIMEOUT)
        verification = await system.verify()
        seconds = round(time.perf_counter() - started, 2)
        if once:
            summary = _summary(system, verification, seconds)
            ended = True
            if rollout:
                summary["rollout"] = await run_demo_rollout(system, quiet=True)
                ended = summary["rollout"]["phases"][-1] == "completed"
            click.echo(json.dumps(summary))
            return 0 if verification.exact and ended else 1
        _print_welcome(system, verification, seconds)
        if rollout:
            await run_demo_rollout(system, quiet=False)
        await _watch(system, stop)
    return 0


def _summary(system: DemoSystem, verification: Verification, seconds: float) -> dict[str, object]:
    report = system.runner.last_report if system.runner else None
    arbitration = system.runner.last_arbitration if system.runner else None
    return {
        "site_devices": verification.site_devices,
        "expected_devices": verification.expected,
        "attached_devices": verification.attached,
        "quarantined": verification.quarantined,
        "rejected": verification.rejected,
        "exact": verification.exact,
        "missing": verification.missing,
        "unexpected": verification.unexpected,
        "cycle": report.counts if report else None,
        "co_management": arbitration.as_counts() if arbitration else None,
        "api_url": system.api_url,
        "admin_center_url": f"{system.api_url}/",
        "seconds": seconds,
    }


def _print_welcome(system: DemoSystem, verification: Verification, seconds: float) -> None:
    out = console()
    assert system.credentials is not None
    engine = create_site_engine(f"sqlite:///{system.site_path}")
    try:
        print_site_summary(summarize_site(SiteReader(engine)), out)
    finally:
        engine.dispose()
    mark = "[green]exact[/green]" if verification.exact else "[red]NOT exact[/red]"
    out.print(f"[bold]cobridge demo[/bold] ready in {seconds} s")
    out.print(
        f"  site devices: {verification.site_devices:,} ({verification.rejected} rejected rows); "
        f"attached in the tenant: {verification.attached:,} "
        f"(expected {verification.expected:,}: {mark}); quarantined: {verification.quarantined}"
    )
    arbitration = system.runner.last_arbitration if system.runner else None
    if arbitration is not None:
        out.print(
            f"  co-management: {arbitration.co_managed:,} co-managed devices; compliance "
            f"policies on the cloud, client apps piloted with {DEMO_PILOT_COLLECTION}: "
            f"{arbitration.handoffs.settled:,} workload handoffs settled, "
            f"{arbitration.handoffs.in_flight} in flight"
        )
    out.print(f"  admin center: {system.api_url}/")
    out.print(
        f"    tenant: {TENANT}  user: {ADMIN}  password: {system.credentials.password}"
        f"  (kept in {system.data_dir / 'demo.json'})"
    )
    out.print(f"  API: {system.api_url}  (OpenAPI: {system.api_url}/openapi.json)")
    out.print(f"  token: {system.credentials.token}")
    root = system.data_dir / "cloud" / "service-root.pem"
    out.print("Try:")
    out.print(
        f"  curl --cacert {root} -H 'Authorization: Bearer {system.credentials.token}' "
        f"'{system.api_url}/api/v1/devices?$top=5&$count=true'"
    )
    out.print(f"  .venv/bin/cobridge onprem touch --db {system.site_path} --devices 100")
    out.print(f"  .venv/bin/cobridge status --config {system.config_path}")
    out.print(f"  .venv/bin/cobridge workloads show --config {system.config_path}")
    out.print(
        f"  .venv/bin/cobridge workloads set windows-update cloud --config {system.config_path}"
    )
    out.print("  a staged rollout: .venv/bin/cobridge workloads example > rollout.toml, then")
    out.print(f"  .venv/bin/cobridge workloads plan rollout.toml --config {system.config_path}")
    out.print("  (or start the demo with --rollout to watch one run)")
    out.print("Watching for deltas (Ctrl-C stops everything)...")


async def _watch(system: DemoSystem, stop: asyncio.Event) -> None:
    out = console()
    runner = system.runner
    assert runner is not None
    seen = runner.cycles
    async with system.admin_client() as admin:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
            task = system.connector_task
            if task is not None and task.done():
                failure = task.exception() if not task.cancelled() else None
                out.print(f"[red]the connector stopped[/red]{f': {failure}' if failure else ''}")
                return
            if runner.cycles == seen or runner.last_report is None:
                continue
            seen = runner.cycles
            report = runner.last_report
            held = await admin.list_devices(DeviceQuery(top=1, count=True))
            counts = report.counts
            out.print(
                f"{time.strftime('%H:%M:%S')} {report.kind} cycle {report.outcome} in "
                f"{report.seconds:.2f} s: {counts.get('upserted', 0)} upserted, "
                f"{counts.get('tombstoned', 0)} deleted, {counts.get('deletes_held', 0)} held; "
                f"tenant holds {held.count:,}"
            )
