"""Rollout orders from the tenant API: fetch, run once each, post the outcome, report status.

After each arbitration pass the connector asks the tenant for its
hierarchy's queued rollout orders (oldest first) and runs them in order with
the same engine as `cobridge workloads plan|apply|pause|resume|abort|rollback`:
a plan order plans the document over the site (the result is the plan's
JSON); an apply order plans again and starts the rollout only if the plan
is the reviewed one; a command goes to the active rollout. The actor in the
audit log is `api:<who asked>`. A refusal (`CobridgeError`) becomes a
refused result with its code, message and hint; nothing here stops the
connector.

Each order runs at most once: its outcome is recorded in the state store
(source `rollout-orders`, with the tenant and hierarchy as its instance)
before it is posted, and an order found recorded is posted again, not run
again. Posting is idempotent at the tenant, so a crash between recording and
posting costs nothing. The order after one whose result could not be posted
waits for the next run: orders are never run out of order. The one window
left is a crash after the engine acted and before the outcome was recorded:
the order then runs again, and a repeated apply is refused by the one-rollout
rule (or the plan hash), a repeated command by the rollout's state.

Then the rollout's status (`cobridge workloads status --json`) is reported
whenever it differs from the last one the tenant acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bridge.rollout.engine import RolloutEngine
from bridge.rollout.site_plan import plan_site
from bridge.rollout.status import RolloutStatusStore, rollout_status
from bridge.state.ports import WithSources
from bridge.sync.ports import InventoryReader
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudApiError
from cloud.contract.rollouts import (
    RolloutError,
    RolloutOp,
    RolloutOrderOut,
    RolloutOrderResult,
    RolloutStatusReport,
)
from workloads.errors import CobridgeError
from workloads.rollout import Abort, Pause, Resume, Rollback, parse_desired_state, plan_to_dict

log = logging.getLogger("cobridge.rollout")

SOURCE = "rollout-orders"
# Refusals of a result that posting it again cannot change: move on to the next order.
# An apply order always names the same rollout (uuid5 of the order id), so an
# order run again after a crash finds the rollout it started, not a refusal.
ORDER_ROLLOUTS = uuid.UUID("5f0c6f8e-3a52-4d0e-9a4b-2f3c6d7e8a91")


def _rollout_of(order: RolloutOrderOut) -> str:
    return str(uuid.uuid5(ORDER_ROLLOUTS, order.order_id))


FINAL_REFUSALS = frozenset({"rollout_result_conflict", "not_found"})
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass
class OrdersReport:
    """One run: orders run and posted, whether the status was sent, the error that stopped it."""

    ran: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    status_sent: bool = False
    error: str | None = None


def refused(exc: CobridgeError) -> RolloutOrderResult:
    """A refusal's result: the error's stable code, message and hint (bounded)."""
    code = exc.code if _CODE.match(exc.code) else "error"
    hint = exc.hint[:1000] if exc.hint else None
    error = RolloutError(code=code, message=(exc.message or code)[:2000], hint=hint)
    return RolloutOrderResult(state="refused", error=error)


def status_of(state: RolloutStatusStore, now: datetime) -> dict[str, Any] | None:
    """The rollout's status as `cobridge workloads status --json` prints it, or None."""
    return rollout_status(state, now=now)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class OrdersStore(RolloutStatusStore, WithSources, Protocol):
    """The rollouts' status, and the cursor each order's outcome is recorded in first."""

    def transaction(self) -> AbstractContextManager[WithSources]:
        """One transaction: committed on success, rolled back on error."""
        ...


class RolloutOrders:
    """Runs the tenant's rollout orders with the engine; `run()` after each arbitration pass."""

    def __init__(
        self,
        state: OrdersStore,
        engine: RolloutEngine,
        reader: InventoryReader,
        client: ConnectorClient,
        *,
        instance: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.state = state
        self.engine = engine
        self.reader = reader
        self.client = client
        self.instance = instance
        self.clock = clock
        self._status_digest: str | None = None

    async def run(self) -> OrdersReport:
        """Run the queued orders in order, post their outcomes, report the status; never raises."""
        report = OrdersReport()
        try:
            await self._orders(report)
            await self._status(report)
        except CobridgeError as exc:
            report.error = str(exc)
            log.warning("rollout orders: %s (the next run tries again)", exc)
        except Exception:  # a bug must not stop the connector; the next run tries again
            report.error = "internal error"
            log.exception("rollout orders failed")
        return report

    async def _orders(self, report: OrdersReport) -> None:
        for order in await self.client.queued_rollout_orders():
            outcome, ran = await asyncio.to_thread(self._outcome, order)
            if ran:
                report.ran.append(order.order_id)
                log.info(
                    "rollout order %s (%s by %s): %s",
                    order.order_id,
                    order.op.value,
                    order.requested_by,
                    outcome.error.code if outcome.error else outcome.state,
                )
            try:
                await self.client.post_rollout_result(order.order_id, outcome)
            except CloudApiError as exc:
                if exc.code not in FINAL_REFUSALS:
                    raise
                log.error("the tenant refused the result of order %s: %s", order.order_id, exc)
            report.posted.append(order.order_id)

    def _outcome(self, order: RolloutOrderOut) -> tuple[RolloutOrderResult, bool]:
        """The order's recorded outcome; else run it and record the outcome first."""
        recorded = self._recorded()
        if recorded is not None and recorded[0] == order.order_id:
            return recorded[1], False
        outcome = self._run(order)
        with self.state.transaction() as tx:
            text = json.dumps({"order": order.order_id, "outcome": outcome.wire()})
            tx.sources.save(SOURCE, self.instance, text, now=self.clock())
        return outcome, True

    def _recorded(self) -> tuple[str, RolloutOrderResult] | None:
        stored = self.state.sources.get(SOURCE)
        if stored is None or stored.instance_id != self.instance or not stored.cursor:
            return None
        try:
            value = json.loads(stored.cursor)
            return str(value["order"]), RolloutOrderResult.model_validate(value["outcome"])
        except (ValueError, TypeError, KeyError):
            return None

    def _run(self, order: RolloutOrderOut) -> RolloutOrderResult:
        by = f"api:{order.requested_by}"
        engine = self.engine
        try:
            if order.op in (RolloutOp.PLAN, RolloutOp.APPLY):
                document = parse_desired_state(order.document, source="document")
                if order.op is RolloutOp.APPLY and self._started_by(order):
                    return RolloutOrderResult(
                        state="done", result=status_of(self.state, self.clock())
                    )
                plan = plan_site(engine.site.read_settings(), document, self.reader)
                if order.op is RolloutOp.PLAN:
                    active = self.state.rollouts.active()
                    result = plan_to_dict(plan) | {"activeRollout": active.name if active else None}
                    return RolloutOrderResult(state="done", result=result)
                engine.apply(
                    document,
                    plan,
                    reviewed=order.plan_hash or "",
                    by=by,
                    rollout_id=_rollout_of(order),
                )
            else:
                now, reason = self.clock(), order.reason or ""
                event = {
                    RolloutOp.PAUSE: lambda: Pause(now, by, reason),
                    RolloutOp.RESUME: lambda: Resume(now, by),
                    RolloutOp.ABORT: lambda: Abort(now, by, reason),
                    RolloutOp.ROLLBACK: lambda: Rollback(now, by, reason),
                }[order.op]()
                engine.command(event, by=by)
        except CobridgeError as exc:
            return refused(exc)
        return RolloutOrderResult(state="done", result=status_of(self.state, self.clock()))

    def _started_by(self, order: RolloutOrderOut) -> bool:
        """Whether this apply order already started its rollout (run before a crash)."""
        return self.state.rollouts.get(_rollout_of(order)) is not None

    async def _status(self, report: OrdersReport) -> None:
        status = await asyncio.to_thread(status_of, self.state, self.clock())
        if status is None:
            return
        digest = _digest(status)
        if digest == self._status_digest:
            return
        await self.client.report_rollout_status(RolloutStatusReport.model_validate(status))
        self._status_digest = digest
        report.status_sent = True
