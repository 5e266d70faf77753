"""`cobridge status`: the connector's health from its state store and identity, offline.

Everything here is read from the data directory and the state store, so
status answers whether or not the connector is running, and the running
connector reports the same figures in its heartbeat and on `/healthz`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from bridge.runtime.enrollment import load_identity
from bridge.state import SyncRun
from bridge.state.ports import (
    WithActions,
    WithAuthority,
    WithDeletes,
    WithDevices,
    WithDirectory,
    WithOutbox,
    WithQuarantine,
    WithRollouts,
    WithRuns,
)
from workloads.rollout import RolloutPhase, RolloutState, parse_desired_state
from workloads.rollout.machine import describe_state

# A cycle older than this many intervals means the connector is not keeping up.
STALE_INTERVALS = 3
# A handoff in flight for longer than this is stalled: a side does not answer.
STALLED_HANDOFF = timedelta(minutes=10)


class StatusStore(
    WithRuns,
    WithDeletes,
    WithQuarantine,
    WithOutbox,
    WithAuthority,
    WithDevices,
    WithActions,
    WithRollouts,
    WithDirectory,
    Protocol,
):
    """What the status report reads: every repository it summarises, each call on its own."""


class CycleOut(BaseModel):
    """One cycle as status shows it."""

    run_id: str
    kind: str
    outcome: str | None
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    error: str | None
    counts: dict[str, int]


class HeldGroupOut(BaseModel):
    """Deletes one cycle held."""

    cycle_id: str
    count: int
    held_at: datetime


class DirectoryOut(BaseModel):
    """Active Directory computers merged with the site (only with a directory pass on record)."""

    computers: int  # live AD computers in scope
    matched: int
    no_agent: int  # AD-only: no site record
    disabled: int
    disputed: int
    discrepancies: int  # deleted from AD, still reporting to the site
    last_pass_at: datetime | None
    last_pass_kind: str | None
    last_pass_outcome: str | None
    last_pass_error: str | None


class RolloutOut(BaseModel):
    """The active rollout, or the last one: its name, phase and where it stands."""

    rollout_id: str
    name: str
    active: bool
    phase: str
    stage: int
    final_stage: int
    summary: str
    updated_at: datetime


def _rollout(state: WithRollouts, notices: list[str]) -> RolloutOut | None:
    """The latest rollout (a paused one is a notice: it waits for an operator)."""
    stored = state.rollouts.latest()
    if stored is None:
        return None
    document = parse_desired_state(stored.document, source=f"rollout {stored.name}")
    current = RolloutState.from_dict(stored.state)
    summary = describe_state(current, document)
    if current.phase is RolloutPhase.PAUSED:
        notices.append(
            f"rollout {stored.name!r} is {summary}; resume, abort or roll it back "
            "(`cobridge workloads status`)"
        )
    return RolloutOut(
        rollout_id=stored.rollout_id,
        name=stored.name,
        active=stored.active,
        phase=current.phase.value,
        stage=current.stage,
        final_stage=current.final_stage,
        summary=summary,
        updated_at=stored.updated_at,
    )


def _directory(state: WithDirectory, notices: list[str]) -> DirectoryOut | None:
    """The directory's counts and last pass; None when no pass ever ran."""
    last = state.directory.last_pass()
    if last is None:
        return None
    counts = state.directory.counts()
    if counts["discrepancies"]:
        notices.append(
            f"{counts['discrepancies']} computer(s) deleted from Active Directory still report "
            "to the site: nothing was deleted; review them (re-join or retire the device)"
        )
    if last.outcome == "failed":
        notices.append(f"the last directory pass failed (nothing changed): {last.error}")
    return DirectoryOut(
        **counts,
        last_pass_at=last.at,
        last_pass_kind=last.kind,
        last_pass_outcome=last.outcome,
        last_pass_error=last.error,
    )


class StatusReport(BaseModel):
    """Everything `cobridge status` shows (`--json` prints this model)."""

    hierarchy_id: str | None
    tenant_id: str | None
    connector_id: str | None
    certificate_not_after: datetime | None
    certificate_days_left: float | None
    last_cycle: CycleOut | None
    last_success_at: datetime | None
    lag_seconds: float | None
    situations: dict[str, int]
    site_devices: int | None
    attached_devices: int
    quarantined: int
    quarantine_by_reason: dict[str, int]
    held_deletes: int
    held_groups: list[HeldGroupOut]
    backlog_batches: int
    backlog_records: int
    # Co-management: the arbiter's journaled records per workload (`held:<holder>`,
    # `revoking`, `granting`, `conflicts`); every other device holds on the site.
    authority: dict[str, dict[str, int]]
    handoffs_in_flight: int
    handoffs_stalled: int
    authority_conflicts: int
    healthy: bool
    problems: list[str]  # what makes the connector unhealthy
    notices: list[str]  # what needs an admin, without being a failure
    directory: DirectoryOut | None = None
    # The action relay's journal: runs claimed, started (on a device), finished, and
    # finished ones the tenant has not acknowledged yet (`unreported`).
    action_runs: dict[str, int] = {}
    rollout: RolloutOut | None = None


def _cycle(run: SyncRun) -> CycleOut:
    seconds = None
    if run.finished_at is not None:
        seconds = round((run.finished_at - run.started_at).total_seconds(), 3)
    return CycleOut(
        run_id=run.run_id,
        kind=run.kind,
        outcome=run.outcome,
        started_at=run.started_at,
        finished_at=run.finished_at,
        seconds=seconds,
        error=run.error,
        counts={k: v for k, v in run.counts.items() if not k.startswith("situation.")},
    )


def status_report(
    state: StatusStore, data_dir: Path, *, now: datetime, interval_seconds: float
) -> StatusReport:
    """The status of the connector whose state and data directory these are (`now` aware)."""
    identity = load_identity(data_dir)
    runs = state.runs.recent(100)
    last = runs[0] if runs else None
    success = next((r for r in runs if r.outcome == "ok"), None)
    held = state.deletes.held()
    groups: dict[str, HeldGroupOut] = {}
    for entry in held:
        group = groups.setdefault(
            entry.cycle_id, HeldGroupOut(cycle_id=entry.cycle_id, count=0, held_at=entry.held_at)
        )
        group.count += 1
    quarantine = state.quarantine.counts()
    batches, records = state.outbox.backlog()
    lag = (now - success.finished_at).total_seconds() if success and success.finished_at else None
    # A cycle in progress says nothing yet: judge by the last one that ended.
    ended = next((r for r in runs if r.outcome is not None), None)
    problems: list[str] = []
    if ended is None:
        problems.append("no sync cycle has completed yet")
    elif ended.outcome == "failed":
        problems.append(f"the last cycle failed: {ended.error}")
    elif ended.outcome == "partial":
        problems.append(f"the last cycle was partial: {ended.error}")
    if lag is not None and lag > STALE_INTERVALS * interval_seconds + 60:
        problems.append(f"no successful cycle for {lag:.0f} s")
    notices: list[str] = []
    if held:
        notices.append(
            f"{len(held)} delete(s) held by the delete guard: review them, then run "
            "`cobridge connector release-deletes`"
        )
    authority = state.authority.counts()
    unsettled = state.authority.unsettled()
    stalled = [e for e in unsettled if now - e.updated_at > STALLED_HANDOFF]
    conflicts = sum(c.get("conflicts", 0) for c in authority.values())
    if stalled:
        oldest = min(stalled, key=lambda e: e.updated_at)
        notices.append(
            f"{len(stalled)} handoff(s) stalled for over {STALLED_HANDOFF.seconds // 60} min "
            f"(oldest: {oldest.record.device} {oldest.record.workload.value}, "
            f"{oldest.record.phase.value}): a side does not answer; if it is gone for good, "
            "`cobridge workloads force` ends a stalled revoke (audited)"
        )
    if conflicts:
        notices.append(
            f"{conflicts} co-management conflict(s): a device reports workloads that disagree "
            "with the grants; see `cobridge workloads show`"
        )
    not_after = identity.not_after if identity else None
    days_left = (not_after - now).total_seconds() / 86400 if not_after else None
    if days_left is not None and days_left < 7:
        notices.append(f"the client certificate expires in {days_left:.1f} days")
    counts: dict[str, Any] = last.counts if last else {}
    situations = {k.split(".", 1)[1]: v for k, v in counts.items() if k.startswith("situation.")}
    if not situations and success is not None:
        situations = {
            k.split(".", 1)[1]: v for k, v in success.counts.items() if k.startswith("situation.")
        }
    site_devices = success.counts.get("records") if success else None
    directory = _directory(state, notices)
    rollout = _rollout(state, notices)
    return StatusReport(
        hierarchy_id=identity.hierarchy_id if identity else None,
        tenant_id=identity.tenant_id if identity else None,
        connector_id=identity.connector_id if identity else None,
        certificate_not_after=not_after,
        certificate_days_left=round(days_left, 2) if days_left is not None else None,
        last_cycle=_cycle(last) if last else None,
        last_success_at=success.finished_at if success else None,
        lag_seconds=round(lag, 1) if lag is not None else None,
        situations=situations,
        site_devices=site_devices,
        attached_devices=state.devices.count(),
        quarantined=sum(quarantine.values()),
        quarantine_by_reason=quarantine,
        held_deletes=len(held),
        held_groups=sorted(groups.values(), key=lambda g: g.held_at),
        backlog_batches=batches,
        backlog_records=records,
        authority=authority,
        handoffs_in_flight=len(unsettled),
        handoffs_stalled=len(stalled),
        authority_conflicts=conflicts,
        healthy=not problems,
        problems=problems,
        notices=notices,
        directory=directory,
        action_runs=state.actions.counts(),
        rollout=rollout,
    )
