"""`cobridge connector ...` and `cobridge status`: run the connector and look after it.

This module is a composition root: it loads `ConnectorSettings` and hands
them to `bridge.runtime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click
from rich.table import Table

from bridge.audit import append, load_signer
from bridge.audit.events import deletes_released
from bridge.cli.output import console
from bridge.runtime.observability import configure_logging
from bridge.runtime.runner import ConnectorRunner, utc_now
from bridge.runtime.status import StatusReport, status_report
from bridge.settings import CONFIG_ENV, ConnectorSettings
from bridge.state import ConnectorState


def config_option(command: click.Command) -> click.Command:
    """--config FILE (or COBRIDGE_CONNECTOR_CONFIG)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENV,
        required=True,
        help=f"The connector's TOML settings (or {CONFIG_ENV}).",
    )(command)


def _open_state(settings: ConnectorSettings) -> ConnectorState:
    db = settings.state.db.get_secret_value() if settings.state.db else None
    return ConnectorState.open(db, data_dir=settings.data_dir)


@click.group()
def connector() -> None:
    """Run the connector and manage what it holds."""


@connector.command()
@config_option
@click.option("--once", is_flag=True, help="Run one cycle and exit (0 when it succeeded).")
def run(config_path: Path, once: bool) -> None:
    """Enroll if needed, register the hierarchy, then sync until stopped (SIGTERM/Ctrl-C)."""
    settings = ConnectorSettings.load(config_path)
    configure_logging(settings.observability.log_level)

    async def main() -> int:
        runner = ConnectorRunner(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, runner.stop)
        return await runner.run(once=once)

    raise SystemExit(asyncio.run(main()))


@connector.command("example-config")
def example_config() -> None:
    """Print a commented configuration to start from."""
    click.echo(ConnectorSettings.example_toml(), nl=False)


@connector.command("held-deletes")
@config_option
def held_deletes(config_path: Path) -> None:
    """List the deletes the delete guard holds."""
    settings = ConnectorSettings.load(config_path)
    with _open_state(settings) as state:
        held = state.deletes.held()
    table = Table("cycle", "SMSID", "name", "held at")
    for entry in held:
        table.add_row(
            entry.cycle_id, entry.smsid, entry.name or "", f"{entry.held_at:%Y-%m-%d %H:%M}"
        )
    out = console()
    out.print(table)
    out.print(f"{len(held)} held delete(s)")


@connector.command("release-deletes")
@config_option
@click.option("--cycle", "cycle_id", default=None, help="Release only this cycle's holds.")
@click.option("--by", "released_by", required=True, help="Who releases them (recorded).")
def release_deletes(config_path: Path, cycle_id: str | None, released_by: str) -> None:
    """Release held deletes (audited); the next cycle sends those still gone from the site."""
    settings = ConnectorSettings.load(config_path)
    signer = load_signer(settings.data_dir)
    by, now = f"local:{released_by}", utc_now()
    with _open_state(settings) as state, state.transaction() as tx:
        released = tx.deletes.release(by, now=now, cycle_id=cycle_id)
        if released:
            append(tx, signer, deletes_released(by, released, cycle_id=cycle_id), now=now)
    if not released:
        raise click.ClickException(
            "nothing is held" + (f" for cycle {cycle_id}" if cycle_id else "")
        )
    click.echo(
        f"released {len(released)} delete(s); the next cycle sends those still gone from the site"
    )


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(config_path: Path, as_json: bool) -> None:
    """The connector's health: last cycle, situations, quarantine, held deletes, backlog, lag."""
    settings = ConnectorSettings.load(config_path)
    with _open_state(settings) as state:
        report = status_report(
            state,
            settings.data_dir,
            now=utc_now(),
            interval_seconds=settings.sync.interval_seconds,
        )
    if as_json:
        click.echo(report.model_dump_json())
    else:
        print_status(report)
    if not report.healthy:
        raise SystemExit(1)


def print_status(report: StatusReport) -> None:
    """The status as tables."""
    out = console()
    table = Table("", "", show_header=False, box=None)
    last = report.last_cycle
    rows = [
        ("hierarchy", report.hierarchy_id or "(not enrolled)"),
        ("connector", report.connector_id or "-"),
        (
            "last cycle",
            f"{last.kind} {last.outcome or 'running'} at {last.started_at:%Y-%m-%d %H:%M:%S} "
            f"({last.seconds if last.seconds is not None else '-'} s)"
            if last
            else "none yet",
        ),
        (
            "last success",
            f"{report.last_success_at:%Y-%m-%d %H:%M:%S}" if report.last_success_at else "never",
        ),
        ("lag", f"{report.lag_seconds:.0f} s" if report.lag_seconds is not None else "-"),
        ("site devices", str(report.site_devices if report.site_devices is not None else "-")),
        ("attached devices", str(report.attached_devices)),
        ("quarantined", str(report.quarantined)),
        ("held deletes", str(report.held_deletes)),
        ("backlog", f"{report.backlog_batches} batch(es), {report.backlog_records} record(s)"),
        (
            "co-management",
            f"{report.handoffs_in_flight} handoff(s) in flight, {report.handoffs_stalled} "
            f"stalled, {report.authority_conflicts} conflict(s)",
        ),
        (
            "certificate",
            f"expires {report.certificate_not_after:%Y-%m-%d} ({report.certificate_days_left} days)"
            if report.certificate_not_after
            else "-",
        ),
    ]
    ad = report.directory
    if ad is not None:
        rows.append(
            (
                "directory",
                f"{ad.computers} computer(s): {ad.matched} matched, {ad.no_agent} no agent, "
                f"{ad.disabled} disabled, {ad.disputed} disputed, "
                f"{ad.discrepancies} discrepancy(ies); last pass {ad.last_pass_kind} "
                f"{ad.last_pass_outcome}"
                + (f" at {ad.last_pass_at:%Y-%m-%d %H:%M:%S}" if ad.last_pass_at else ""),
            )
        )
    if report.rollout is not None:
        r = report.rollout
        state = "active" if r.active else "ended"
        rows.append(("rollout", f"{r.name} ({state}): {r.summary}"))
    runs = report.action_runs
    if any(runs.values()):
        rows.append(
            (
                "device actions",
                f"{runs.get('claimed', 0)} waiting, {runs.get('started', 0)} running, "
                f"{runs.get('finished', 0)} finished ({runs.get('unreported', 0)} not yet "
                "reported)",
            )
        )
    for name, value in rows:
        table.add_row(f"[bold]{name}[/bold]", value)
    out.print(table)
    if report.situations:
        situations = Table("situation", "records", title="Identity situations (last cycle)")
        for name, count in report.situations.items():
            situations.add_row(name, f"{count:,}")
        out.print(situations)
    if report.quarantine_by_reason:
        reasons = Table("reason", "records", title="Quarantine")
        for name, count in sorted(report.quarantine_by_reason.items()):
            reasons.add_row(name, f"{count:,}")
        out.print(reasons)
    for problem in report.problems:
        out.print(f"[red]problem:[/red] {problem}")
    for notice in report.notices:
        out.print(f"[yellow]notice:[/yellow] {notice}")
    if last and last.error:
        out.print(f"last error: {last.error}")
    out.print("[green]healthy[/green]" if report.healthy else "[red]unhealthy[/red]")
