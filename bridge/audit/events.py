"""The audit events of the connector's own changes: what each records, in one place.

Actions (the rollout engine adds its own `rollout.*` actions through `append`):

| action | target | details |
| --- | --- | --- |
| `workload.set` | the workload's Graph name | slider, pilot collection, and the previous ones |
| `comanagement.set` | `site` | enabled, auto-enrollment scope and collection, and the previous ones |
| `handoff.force` | `SMSID/workload` | reason, the side assumed stopped, the side granted, epoch |
| `deletes.release` | a cycle id, or `all` | who ordered it, how many per cycle, a sample of SMSIDs |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.audit.entry import AuditEvent
from bridge.state import HeldDelete
from workloads.catalog import Workload
from workloads.handoff import Forced
from workloads.settings import CoManagementSettings

# SMSIDs named in a release entry; the held-delete rows keep every one.
RELEASE_SAMPLE = 50


def workload_set(
    actor: str, workload: Workload, before: CoManagementSettings, after: CoManagementSettings
) -> AuditEvent:
    """A workload's slider (and pilot collection) moved at the site."""
    old, new = before.setting(workload), after.setting(workload)
    details = {
        "slider": new.slider.value,
        "pilot_collection": new.pilot_collection,
        "previous": {"slider": old.slider.value, "pilot_collection": old.pilot_collection},
    }
    return AuditEvent(actor, "workload.set", workload.value, details)


def _co_management(settings: CoManagementSettings) -> dict[str, Any]:
    return {
        "enabled": settings.enabled,
        "auto_enrollment": settings.auto_enrollment.scope.value,
        "auto_enrollment_collection": settings.auto_enrollment.collection,
    }


def co_management_set(
    actor: str, before: CoManagementSettings, after: CoManagementSettings
) -> AuditEvent:
    """Co-management turned on or off, or its automatic enrollment scope changed."""
    details = {**_co_management(after), "previous": _co_management(before)}
    return AuditEvent(actor, "comanagement.set", "site", details)


def handoff_forced(actor: str, forced: Forced) -> AuditEvent:
    """A stalled handoff forced by an admin."""
    details = {
        "reason": forced.reason,
        "assumed_revoked": forced.side.value,
        "granted": forced.target.value,
        "epoch": forced.epoch,
    }
    return AuditEvent(actor, "handoff.force", f"{forced.device}/{forced.workload.value}", details)


def deletes_released(
    actor: str,
    released: Sequence[HeldDelete],
    *,
    cycle_id: str | None,
    order_id: str | None = None,
) -> AuditEvent:
    """Held deletes released (by a tenant admin's order, or locally)."""
    per_cycle: dict[str, int] = {}
    for entry in released:
        per_cycle[entry.cycle_id] = per_cycle.get(entry.cycle_id, 0) + 1
    details: dict[str, Any] = {
        "count": len(released),
        "cycles": per_cycle,
        "sample": [entry.smsid for entry in released[:RELEASE_SAMPLE]],
    }
    if order_id is not None:
        details["order_id"] = order_id
    return AuditEvent(actor, "deletes.release", cycle_id or "all", details)
