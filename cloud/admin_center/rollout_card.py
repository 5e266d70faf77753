"""The workloads page's Rollout progress card: each hierarchy's rollout as its connector reported it.

Per hierarchy: the rollout's name, phase and status line, its stages as a
stepped progress (label, soak, status), the handoff health figures, the
gates, the newest history entries, and the recent orders with how they
ended. Operators get the commands the rollout's phase allows (the engine
still judges each one when the connector runs it); the forms create orders
through the API's handler (`routes_rollouts.create_rollout_order`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.rollouts import (
    RolloutGates,
    RolloutHistoryEntry,
    RolloutOp,
    RolloutOrderOut,
    RolloutStage,
    RolloutStatusReport,
)
from cloud.store import attach as attach_store
from cloud.store import rollouts as store

HISTORY_SHOWN = 5
ORDERS_SHOWN = 5
# The commands the rollout state machine accepts in each phase (workloads.rollout.machine).
COMMANDS_BY_PHASE: dict[str, tuple[RolloutOp, ...]] = {
    "pending": (RolloutOp.ABORT,),
    "applying": (RolloutOp.PAUSE, RolloutOp.ROLLBACK, RolloutOp.ABORT),
    "soaking": (RolloutOp.PAUSE, RolloutOp.ROLLBACK, RolloutOp.ABORT),
    "paused": (RolloutOp.RESUME, RolloutOp.ROLLBACK, RolloutOp.ABORT),
    "rolling_back": (RolloutOp.ABORT,),
}
BUTTONS = {
    RolloutOp.PAUSE: "Pause",
    RolloutOp.RESUME: "Resume",
    RolloutOp.ABORT: "Abort",
    RolloutOp.ROLLBACK: "Roll back",
}
# Where each command's reason stands: required, optional, or none asked.
REASONS = {
    RolloutOp.PAUSE: "optional",
    RolloutOp.RESUME: "none",
    RolloutOp.ABORT: "required",
    RolloutOp.ROLLBACK: "required",
}


def step_kind(stage: RolloutStage) -> str:
    """The stepped progress's class of a stage: done, current, returned or pending."""
    if stage.status in ("done", "returned"):
        return stage.status
    if stage.status == "not started":
        return "pending"
    return "current"


def describe_gates(gates: RolloutGates) -> str:
    """The gates in one line, and what a tripped gate does."""
    parts = [
        f"failed handoffs ≤ {gates.max_failed_percent:g}%",
        f"stalled handoffs ≤ {gates.max_stalled_percent:g}%",
        f"conflicts ≤ {gates.max_conflicts}",
    ]
    if gates.min_compliance_percent is not None:
        parts.append(f"compliance ≥ {gates.min_compliance_percent:g}% when reported")
    action = "rolls back" if gates.on_trip == "rollback" else "pauses"
    return f"{', '.join(parts)}; a tripped gate {action} the rollout"


def describe_order(order: RolloutOrderOut) -> str:
    """How an order ended, in words."""
    if order.error is not None:
        return f"refused ({order.error.code}): {order.error.message}"
    if order.state == "done":
        return "done"
    return "waiting for the connector"


@dataclass
class RolloutView:
    """One hierarchy's part of the card."""

    hierarchy_id: str
    site_code: str
    detached: bool
    reported_at: datetime | None = None
    rollout: RolloutStatusReport | None = None
    orders: list[RolloutOrderOut] = field(default_factory=list)
    # One key per rendered form set: a form sent twice makes one order.
    form_key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def phase_text(self) -> str:
        """The phase as people read it ("rolling back")."""
        return self.rollout.phase.replace("_", " ") if self.rollout else ""

    @property
    def commands(self) -> list[RolloutOp]:
        """The commands the reported phase allows (none for an ended or detached rollout)."""
        if self.rollout is None or not self.rollout.active or self.detached:
            return []
        return list(COMMANDS_BY_PHASE.get(self.rollout.phase, ()))

    @property
    def history(self) -> list[RolloutHistoryEntry]:
        """The newest history entries, newest first."""
        entries = self.rollout.history if self.rollout else []
        return list(reversed(entries[-HISTORY_SHOWN:]))


async def rollout_views(conn: AsyncConnection, tenant_id: str) -> list[RolloutView]:
    """Every hierarchy of the tenant with its reported rollout and recent orders."""
    views = []
    for h in await attach_store.list_hierarchies(conn, tenant_id):
        view = RolloutView(h["hierarchy_id"], h["site_code"], h["detached_at"] is not None)
        reported = await store.get_report(conn, tenant_id, view.hierarchy_id)
        view.reported_at, view.rollout = reported.reported_at, reported.rollout
        rows = await store.list_orders(conn, tenant_id, view.hierarchy_id, top=ORDERS_SHOWN)
        view.orders = [store.order_out(r) for r in rows]
        views.append(view)
    return views
