"""`cobridge workloads plan|apply|status|pause|resume|abort|rollback`: staged rollouts.

A composition root like `workloads_commands` (whose group these commands
join): it opens the site and the connector's state from the connector's
settings. `plan` prints what a desired-state file would change, like an
infrastructure-as-code plan, and exits 0 when nothing would change and 3
when something would (2 is an error, as everywhere). `apply` re-plans and
starts the rollout only if the plan's hash is the reviewed one; the running
connector moves it stage by stage. Every step is in the audit log.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from bridge.audit import load_signer
from bridge.cli.connector_commands import _open_state, config_option
from bridge.cli.output import console
from bridge.cli.rollout_status import show_status
from bridge.cli.workloads_commands import _actor, workloads
from bridge.rollout import RolloutEngine, plan_site
from bridge.rollout.status import rollout_status
from bridge.runtime.runner import utc_now
from bridge.runtime.site import site_authority, site_reader
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from bridge.sync.ports import InventoryReader
from onprem.site_authority import SiteAuthority
from onprem.site_database import create_site_engine
from workloads.errors import CobridgeError
from workloads.rollout import (
    Abort,
    DesiredState,
    Pause,
    Plan,
    Resume,
    Rollback,
    parse_desired_state_toml,
    plan_to_dict,
    render_plan_text,
)

EXIT_CHANGES = 3


class DesiredStateFileError(CobridgeError):
    """The desired-state file cannot be read."""

    code = "desired_state_unreadable"


@dataclass
class Opened:
    """What a rollout command works with: the site's two sides, the state, the engine."""

    site: SiteAuthority
    reader: InventoryReader
    state: ConnectorState
    engine: RolloutEngine


@contextlib.contextmanager
def _opened(config_path: Path) -> Iterator[Opened]:
    settings = ConnectorSettings.load(config_path)
    engine = create_site_engine(settings.site.url(), must_exist=True)
    try:
        site = site_authority(engine)
        reader = site_reader(engine, chunk_size=settings.site.chunk_size)
        with _open_state(settings) as state:
            data_dir = settings.data_dir
            rollouts = RolloutEngine(state, site, lambda: load_signer(data_dir), clock=utc_now)
            yield Opened(site, reader, state, rollouts)
    finally:
        engine.dispose()


def _document(path: Path) -> DesiredState:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DesiredStateFileError(
            f"cannot read the desired-state file {path}: {exc}",
            hint="pass a UTF-8 TOML file; `cobridge workloads example` prints one",
        ) from exc
    return parse_desired_state_toml(text, source=str(path))


def _plan(opened: Opened, document: DesiredState) -> Plan:
    out = console()
    with (
        out.status("Reading the site and planning…", spinner="dots")
        if sys.stdout.isatty()
        else (contextlib.nullcontext())
    ):
        return plan_site(opened.site.read_settings(), document, opened.reader)


desired_file = click.argument(
    "desired_state", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)


@workloads.command()
def example() -> None:
    """Print an example desired-state file (TOML) to start from."""
    from workloads.rollout import EXAMPLE_DESIRED_STATE

    click.echo(EXAMPLE_DESIRED_STATE.rstrip())


@workloads.command()
@config_option
@desired_file
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--no-samples", is_flag=True, help="Leave out the sample devices.")
def plan(config_path: Path, desired_state: Path, as_json: bool, no_samples: bool) -> None:
    """What DESIRED_STATE would change, per workload and stage; exit 3 if anything would."""
    document = _document(desired_state)
    with _opened(config_path) as opened:
        made = _plan(opened, document)
        active = opened.state.rollouts.active()
    if as_json:
        body = plan_to_dict(made) | {"active_rollout": active.name if active else None}
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(render_plan_text(made, samples=not no_samples).rstrip())
        if active is not None:
            click.echo(
                f"\nNote: rollout {active.name!r} is {active.phase}; "
                "apply is refused until it ends."
            )
        elif made.has_changes:
            click.echo(
                f"\nTo run exactly this plan: cobridge workloads apply {desired_state} "
                f"--plan-hash {made.plan_hash}"
            )
    sys.exit(EXIT_CHANGES if made.has_changes else 0)


@workloads.command()
@config_option
@desired_file
@click.option("--plan-hash", required=True, help="The hash `plan` printed for the reviewed plan.")
@click.option("--by", "--actor", "by", help="Who applies it (for the record); default: this user.")
def apply(config_path: Path, desired_state: Path, plan_hash: str, by: str | None) -> None:
    """Start the rollout of DESIRED_STATE if its plan is still the reviewed one."""
    document = _document(desired_state)
    with _opened(config_path) as opened:
        made = _plan(opened, document)
        stored = opened.engine.apply(document, made, reviewed=plan_hash.strip(), by=_actor(by))
    click.echo(
        f"Rollout {stored.name!r} started ({stored.rollout_id}): "
        f"{made.devices_changing:,} devices change holder over {document.final_stage} stage(s). "
        "The running connector moves it stage by stage; follow it with "
        "`cobridge workloads status`."
    )


@workloads.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(config_path: Path, as_json: bool) -> None:
    """The active rollout (or the last one): its phase, stages, health and history."""
    with _opened(config_path) as opened:
        found = rollout_status(opened.state, now=utc_now())
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    show_status(found, console())


def _command(config_path: Path, event: Pause | Resume | Abort | Rollback, verb: str) -> None:
    with _opened(config_path) as opened:
        stored = opened.engine.command(event, by=event.by)
    click.echo(f"Rollout {stored.name!r} {verb}: now {stored.phase.replace('_', ' ')}.")


reason_option = click.option("--reason", required=True, help="Why (recorded in the audit log).")
by_option = click.option("--by", "--actor", "by", help="Who (for the record); default: this user.")


@workloads.command()
@config_option
@click.option("--reason", default="", help="Why (recorded in the audit log).")
@by_option
def pause(config_path: Path, reason: str, by: str | None) -> None:
    """Admit no further stage; devices already admitted keep moving."""
    _command(config_path, Pause(utc_now(), _actor(by), reason), "paused")


@workloads.command()
@config_option
@by_option
def resume(config_path: Path, by: str | None) -> None:
    """Go on from where the rollout was paused."""
    _command(config_path, Resume(utc_now(), _actor(by)), "resumed")


@workloads.command()
@config_option
@reason_option
@by_option
def abort(config_path: Path, reason: str, by: str | None) -> None:
    """End the rollout now; the arbiter returns admitted devices to their prior holder."""
    _command(config_path, Abort(utc_now(), _actor(by), reason), "aborted")


@workloads.command()
@config_option
@reason_option
@by_option
def rollback(config_path: Path, reason: str, by: str | None) -> None:
    """Return every admitted device to its prior holder, watched until it is done."""
    _command(config_path, Rollback(utc_now(), _actor(by), reason), "is rolling back")
