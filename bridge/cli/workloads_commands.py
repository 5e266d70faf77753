"""`cobridge workloads ...`: the site's co-management settings, the arbiter's records, force.

A composition root: it opens the site's co-management side and the
connector's state from the connector's settings. Settings are the site's
(DESIGN.md section 7): `set` writes them there, and the running connector's
next pass moves the devices. `force` ends a stalled handoff in the journal,
audited; the running connector sends its commands on its next pass. Each
change is also appended to the connector's audit log (`cobridge audit`): the
signing key and the state are opened before the change, so a change that
could not be audited is refused rather than made.
"""

from __future__ import annotations

import contextlib
import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import click
from rich.table import Table

from bridge.arbiter.journal_force import force_in_journal
from bridge.audit import AuditEvent, AuditSigner, AuditStore, append, load_signer
from bridge.audit import events as audit_events
from bridge.cli.connector_commands import _open_state, config_option
from bridge.cli.output import console
from bridge.runtime.runner import utc_now
from bridge.runtime.site import site_authority
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from bridge.state.ports import WithRollouts
from onprem.authority.settings_text import settings_summary
from onprem.site_authority import SiteAuthority
from onprem.site_database import create_site_engine
from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.errors import CobridgeError, UnknownWorkload
from workloads.rollout import parse_desired_state
from workloads.settings import AutoEnrollment, EnrollmentScope, Slider, WorkloadSetting


class WorkloadName(click.ParamType):
    """A workload by its Graph feature name or short name."""

    name = "workload"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Workload:
        """The workload `value` names, or a usage error listing the short names."""
        try:
            return Workload.named(value)
        except UnknownWorkload:
            names = ", ".join(sorted(w.alias for w in ALL_WORKLOADS))
            self.fail(f"{value!r} is not a workload; use one of: {names}", param, ctx)


@contextlib.contextmanager
def _site(settings: ConnectorSettings) -> Iterator[SiteAuthority]:
    engine = create_site_engine(settings.site.url(), must_exist=True)
    try:
        yield site_authority(engine)
    finally:
        engine.dispose()


def _actor(by: str | None) -> str:
    return f"cli:{by or getpass.getuser()}"


@contextlib.contextmanager
def _audited(settings: ConnectorSettings) -> Iterator[tuple[ConnectorState, AuditSigner]]:
    """The state and the audit signer, both opened before the change they will record."""
    signer = load_signer(settings.data_dir)
    with _open_state(settings) as state:
        yield state, signer


def _record(state: AuditStore, signer: AuditSigner, event: AuditEvent) -> None:
    append(state, signer, event, now=utc_now())


class WorkloadInRollout(CobridgeError):
    """A workload a running rollout moves: its slider is the rollout's until it ends."""

    code = "rollout_in_progress"


def _refuse_if_rolling(state: WithRollouts, workload: Workload) -> None:
    active = state.rollouts.active()
    if active is None:
        return
    document = parse_desired_state(active.document, source=f"rollout {active.name}")
    if workload in document.workloads:
        raise WorkloadInRollout(
            f"{workload.display_name} is being moved by rollout {active.name!r} "
            f"({active.phase}): its slider is the rollout's until it ends",
            hint="follow it with `cobridge workloads status`; pause, abort or roll it back first",
        )


@click.group()
def workloads() -> None:
    """Co-management: settings per workload, where each device's workloads are, force."""


@workloads.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def show(config_path: Path, as_json: bool) -> None:
    """The site's co-management settings and the arbiter's records per workload."""
    settings = ConnectorSettings.load(config_path)
    with _site(settings) as site:
        current = site.read_settings()
    with _open_state(settings) as state:
        counts = state.authority.counts()
    rows = settings_summary(current)
    if as_json:
        click.echo(json.dumps({"settings": rows, "records": counts}, indent=2, default=str))
        return
    out = console()
    table = Table("setting", "value", "collection", "note", title="Co-management settings")
    for row in rows:
        table.add_row(row["name"], str(row["value"]), row["collection"] or "", row["note"] or "")
    out.print(table)
    handed = Table(
        "workload",
        "on the cloud",
        "back on the site",
        "in handoff",
        "conflicts",
        title="Devices handed off (every other device: on the site, epoch 0)",
    )
    for workload in ALL_WORKLOADS:
        mine = counts.get(workload.value, {})
        in_flight = mine.get("revoking", 0) + mine.get("granting", 0)
        handed.add_row(
            workload.display_name,
            str(mine.get("held:cloud", 0)),
            str(mine.get("held:configmgr", 0)),
            str(in_flight),
            str(mine.get("conflicts", 0)),
        )
    out.print(handed)


@workloads.command("set")
@config_option
@click.argument("workload", type=WorkloadName())
@click.argument("slider", type=click.Choice([s.value for s in Slider]))
@click.option("--pilot-collection", help="The pilot collection (needed for pilot), e.g. PS100014.")
@click.option(
    "--by", "--actor", "by", help="Who makes the change (for the record); default: this user."
)
def set_workload(
    config_path: Path, workload: Workload, slider: str, pilot_collection: str | None, by: str | None
) -> None:
    """Move one workload's slider at the site: configmgr, pilot or cloud."""
    settings = ConnectorSettings.load(config_path)
    with _audited(settings) as (state, signer), _site(settings) as site:
        _refuse_if_rolling(state, workload)
        current = site.read_settings()
        chosen = WorkloadSetting.model_validate(
            {"slider": slider, "pilot_collection": pilot_collection}
        )
        changed = current.with_workload(workload, chosen)
        site.write_settings(changed, changed_by=_actor(by), now=utc_now())
        _record(state, signer, audit_events.workload_set(_actor(by), workload, current, changed))
    where = f" (pilot collection {chosen.pilot_collection})" if chosen.pilot_collection else ""
    click.echo(
        f"{workload.display_name}: {slider}{where}. The connector moves devices on its next pass."
    )


@workloads.command("co-management")
@config_option
@click.option("--enabled/--disabled", default=True, help="Co-management on or off at the site.")
@click.option(
    "--auto-enrollment",
    type=click.Choice([s.value for s in EnrollmentScope]),
    help="Automatic MDM enrollment scope.",
)
@click.option("--collection", help="The auto-enrollment pilot collection (with pilot).")
@click.option(
    "--by", "--actor", "by", help="Who makes the change (for the record); default: this user."
)
def co_management(
    config_path: Path,
    enabled: bool,
    auto_enrollment: str | None,
    collection: str | None,
    by: str | None,
) -> None:
    """Turn co-management on or off, and set the automatic enrollment scope."""
    settings = ConnectorSettings.load(config_path)
    with _audited(settings) as (state, signer), _site(settings) as site:
        before = site.read_settings()
        current = before.with_enabled(enabled)
        if auto_enrollment is not None:
            scope = AutoEnrollment.model_validate(
                {"scope": auto_enrollment, "collection": collection}
            )
            current = current.with_auto_enrollment(scope)
        site.write_settings(current, changed_by=_actor(by), now=utc_now())
        _record(state, signer, audit_events.co_management_set(_actor(by), before, current))
    click.echo(f"co-management {'on' if enabled else 'off'}.")


@workloads.command()
@config_option
@click.option("--device", "smsid", required=True, help="The device's SMSID (GUID:...).")
@click.option("--workload", "workload", type=WorkloadName(), required=True)
@click.option("--reason", required=True, help="Why (recorded in the audit events).")
@click.option("--by", "--actor", "by", help="Who forces it (for the record); default: this user.")
def force(config_path: Path, smsid: str, workload: Workload, reason: str, by: str | None) -> None:
    """End a handoff stalled in revoking: assume the unreachable side stopped (audited)."""
    settings = ConnectorSettings.load(config_path)
    with _audited(settings) as (state, signer):
        forced = force_in_journal(
            state, smsid, workload, reason=reason, by=_actor(by), now=utc_now()
        )
        _record(state, signer, audit_events.handoff_forced(_actor(by), forced))
    click.echo(
        f"forced: {smsid} {workload.display_name} now granting the {forced.target} side at epoch "
        f"{forced.epoch}; the revoke of the {forced.side} side keeps being sent until it answers."
    )
