"""The installer's commands: `install`, `doctor`, `uninstall`, `secrets` and `renew`.

The console (`installer.console`) adds them to the `cobridge` root group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from bridge.cli.connector_commands import print_status
from bridge.cli.output import console
from installer.answers import literal_secrets, load_answers
from installer.cli_secrets import renew, secrets
from installer.doctor import doctor_checks, installed_settings, installed_status
from installer.install import Install
from installer.layout import InstallError, Layout
from installer.prerequisites import failed, print_results, results_json
from installer.prompts import prompt_answers
from installer.uninstall import TOKEN_ENV, uninstall

ANSWERS_HELP = """\
The answers file (TOML) has the sections and keys the prompts ask:
[site] db, password, hierarchy_id; [cloud] connector_url, api_url, ca_file,
attach_code, key_type (ec-p256 or rsa-3072); [directory] enabled, hosts, tls,
port, ca_file, bind_dn, password, base_dns; [actions] enabled, winrm_user,
winrm_password; [service] metrics_host, metrics_port, wait_seconds. A secret
may be written env:NAME to take it from the environment.
"""


def prefix_option(command: click.Command) -> click.Command:
    """--prefix DIR (default /)."""
    return click.option(
        "--prefix",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("/"),
        show_default=True,
        help="Install root: / for a real install, a directory for a non-root or test install.",
    )(command)


def _layout(prefix: Path) -> Layout:
    return Layout(prefix.absolute())


@click.command(epilog=ANSWERS_HELP)
@click.option("--answers", "answers_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Run the checks and show what would be written.")
@prefix_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
@click.option("--force", is_flag=True, help="Install even when a prerequisite check fails.")
@click.pass_context
def install(
    ctx: click.Context,
    answers_path: Path | None,
    dry_run: bool,
    prefix: Path,
    as_json: bool,
    force: bool,
) -> None:
    """Install the connector: checks, files, enrollment, service, first heartbeat.

    Without --answers it asks on the terminal.
    """
    out = Console(stderr=True, highlight=False) if as_json else console()
    if answers_path is not None:
        answers = load_answers(answers_path)
        if literal_secrets(answers_path):
            out.print(
                f"[yellow]note:[/yellow] {answers_path} holds secrets in plain text "
                f"({', '.join(literal_secrets(answers_path))}): delete it after the install, "
                "or write them as env:NAME"
            )
    elif sys.stdin.isatty():
        answers = prompt_answers()
    else:
        raise InstallError(
            "no --answers file, and no terminal to ask on",
            hint="pass --answers FILE for an unattended install (see --help for its keys)",
        )
    run = Install(
        answers,
        _layout(prefix),
        out,
        force=force,
        dry_run=dry_run,
        interactive=answers_path is None,
        debug=bool(ctx.obj and ctx.obj.get("debug")),
    )
    try:
        run.run()
    finally:
        if as_json:
            click.echo(json.dumps(run.report, default=str))


@click.command()
@prefix_option
@click.option("--json", "as_json", is_flag=True, help="Print checks and status as one JSON object.")
@click.pass_context
def doctor(ctx: click.Context, prefix: Path, as_json: bool) -> None:
    """Re-run the prerequisite checks on the installed connector, and show its status.

    Exits 1 when a check fails or the connector is unhealthy.
    """
    layout = _layout(prefix)
    settings = installed_settings(layout)
    results = doctor_checks(layout, settings, debug=bool(ctx.obj and ctx.obj.get("debug")))
    report = installed_status(settings)
    if as_json:
        status = report.model_dump(mode="json") if report else None
        click.echo(results_json(results, status=status))
    else:
        out = console()
        print_results(results, out, title=f"Prerequisites ({layout.config})")
        if report is None:
            out.print("status: the connector has not run yet (no state store)")
        else:
            print_status(report)
    if failed(results) or (report is not None and not report.healthy):
        raise SystemExit(1)


@click.command(name="uninstall")
@prefix_option
@click.option("--detach", is_flag=True, help="Detach the hierarchy at the tenant first.")
@click.option("--token", envvar=TOKEN_ENV, help=f"Admin token for --detach (or {TOKEN_ENV}).")
@click.option("--purge", is_flag=True, help="Keep no backup of the configuration.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall_command(
    prefix: Path, detach: bool, token: str | None, purge: bool, yes: bool
) -> None:
    """Stop the connector, remove its files, keep a configuration backup unless --purge."""
    layout = _layout(prefix)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Remove the connector installed under {layout.prefix}?", abort=True)
    uninstall(layout, console(), detach_hierarchy=detach, token=token, purge=purge)


INSTALLER_COMMANDS: tuple[click.Command, ...] = (install, doctor, uninstall_command, secrets, renew)
