"""The status of the active (or last) rollout: phase, stages, handoff health, history.

Read from the connector's state only (no site access): the stored document
and rollout state, the journal's handoff health over the rollout's workloads,
and the rollout's entries in the audit log. The same dict is printed as JSON
and reported to the tenant.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Protocol

from bridge.state.ports import WithAudit, WithAuthority, WithRollouts
from workloads.catalog import with_dependants
from workloads.rollout import RolloutState, parse_desired_state
from workloads.rollout.document import describe_soak
from workloads.rollout.machine import describe_state
from workloads.settings import CoManagementSettings

STALLED_AFTER = timedelta(minutes=10)
HISTORY = 50


class RolloutStatusStore(WithRollouts, WithAuthority, WithAudit, Protocol):
    """What a rollout's status is read from: the rollouts, the journal's health, the audit log."""


def rollout_status(state: RolloutStatusStore, *, now: datetime) -> dict[str, Any] | None:
    """The active rollout's status, else the last one's, else None."""
    stored = state.rollouts.latest()
    if stored is None:
        return None
    document = parse_desired_state(stored.document, source=f"rollout {stored.name}")
    current = RolloutState.from_dict(stored.state)
    prior = CoManagementSettings.model_validate(stored.prior_settings)
    changed = with_dependants(document.changed_workloads(prior))
    health = state.authority.health(
        changed, since=stored.created_at, stalled_before=now - STALLED_AFTER
    )
    target = f"rollout:{stored.name}:{stored.rollout_id}"
    rows = state.audit.for_target(target, limit=HISTORY)
    return {
        "rolloutId": stored.rollout_id,
        "name": stored.name,
        "active": stored.active,
        "phase": current.phase.value,
        "stage": current.stage,
        "finalStage": current.final_stage,
        "summary": describe_state(current, document),
        "reason": current.reason,
        "soakUntil": current.soak_until.isoformat() if current.soak_until else None,
        "planHash": stored.plan_hash,
        "createdBy": stored.created_by,
        "createdAt": stored.created_at.isoformat(),
        "updatedAt": stored.updated_at.isoformat(),
        "workloads": [w.value for w in changed],
        "stages": [
            {
                "stage": k,
                "label": document.stage_label(k),
                "soak": describe_soak(document.soak_seconds(k)),
                "status": _stage_status(current, k),
            }
            for k in range(1, document.final_stage + 1)
        ],
        "health": health,
        "gates": document.gates.model_dump(mode="json"),
        "history": [
            {
                "seq": r.seq,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "details": json.loads(r.details),
            }
            for r in rows
        ],
    }


def _stage_status(current: RolloutState, stage: int) -> str:
    if current.phase.value in ("rolled_back", "aborted"):
        return "returned" if stage <= max(current.stage, 1) else "not started"
    if current.phase.value == "completed" or stage < current.stage:
        return "done"
    if stage == current.stage:
        return current.phase.value.replace("_", " ")
    return "not started"
