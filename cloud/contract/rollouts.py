"""Rollouts on the wire: orders to a hierarchy's connector, their results, its rollout status.

Automation drives staged workload rollouts through the tenant API (DESIGN.md
section 8) exactly as `cobridge workloads plan|apply|pause|resume|abort|rollback`
does at the site: an operator queues a `RolloutOrder` for a hierarchy; its
connector fetches it over its outbound connection, runs it with its rollout
engine and posts a `RolloutOrderResult` (the plan, or the rollout's status
after the command; or why it was refused, with the engine's stable code).
The connector also reports its rollout's status (`RolloutStatusReport`,
the `cobridge workloads status --json` document) whenever it changes.

The desired-state document is validated here with the domain's own parser
(`workloads.rollout.parse_desired_state`), so a bad one is refused with the
key path that is wrong before it is queued.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from cloud.contract.actions import IDEMPOTENCY_KEY
from cloud.contract.naming import CamelModel, CamelResponse
from workloads.rollout import DesiredState, DesiredStateError, parse_desired_state

PLAN_HASH = r"^[0-9a-f]{64}$"
ERROR_CODE = r"^[a-z][a-z0-9_]{0,63}$"
MAX_REASON = 500
# The most orders a connector is handed at once (the rest on its next look).
MAX_QUEUED = 20


class RolloutOp(StrEnum):
    """What an order asks of the connector's rollout engine."""

    PLAN = "plan"
    APPLY = "apply"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ROLLBACK = "rollback"


COMMANDS = (RolloutOp.PAUSE, RolloutOp.RESUME, RolloutOp.ABORT, RolloutOp.ROLLBACK)


class RolloutOrderState(StrEnum):
    """Queued until the connector ran the order; then done, or refused with the reason."""

    QUEUED = "queued"
    DONE = "done"
    REFUSED = "refused"


def _null(name: str) -> dict[str, Any]:
    return {name: {"type": "null"}}


# The per-op rules of `RolloutOrder._fields_of_op`, stated in its JSON Schema too.
_ORDER_SHAPES: list[dict[str, Any]] = [
    {
        "properties": {"op": {"const": "plan"}} | _null("planHash") | _null("reason"),
        "required": ["op", "document"],
    },
    {
        "properties": {"op": {"const": "apply"}} | _null("reason"),
        "required": ["op", "document", "planHash"],
    },
    {
        "properties": {"op": {"const": "pause"}} | _null("document") | _null("planHash"),
        "required": ["op"],
    },
    {
        "properties": {"op": {"const": "resume"}}
        | _null("document")
        | _null("planHash")
        | _null("reason"),
        "required": ["op"],
    },
    {
        "properties": {"op": {"enum": ["abort", "rollback"]}}
        | _null("document")
        | _null("planHash"),
        "required": ["op", "reason"],
    },
]


class RolloutOrder(CamelModel):
    """An order for a hierarchy's rollout engine.

    - `plan`: `document` (the desired state, as JSON); the result is the plan.
    - `apply`: `document` and `planHash`, the hash of the plan that was
      reviewed; the connector plans again and starts the rollout only if
      the hash is the same (else `plan_changed`).
    - `pause` (optional `reason`), `resume`, `abort` and `rollback` (`reason`
      required): the active rollout's commands.

    `idempotencyKey` (optional, per caller and hierarchy; or the
    `Idempotency-Key` header): the same key with the same order answers the
    first order; with another order it is refused (`idempotency_conflict`).
    """

    model_config = ConfigDict(json_schema_extra={"oneOf": _ORDER_SHAPES})

    op: RolloutOp
    document: dict[str, Any] | None = None
    plan_hash: str | None = Field(default=None, pattern=PLAN_HASH)
    reason: str | None = Field(default=None, min_length=1, max_length=MAX_REASON)
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY)

    @field_validator("document")
    @classmethod
    def _valid_document(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                parse_desired_state(value, source="document")
            except DesiredStateError as exc:
                hint = f" (hint: {exc.hint})" if exc.hint else ""
                raise ValueError(f"{exc.message}{hint}") from None
        return value

    @model_validator(mode="after")
    def _fields_of_op(self) -> RolloutOrder:
        op = self.op
        needs_document = op in (RolloutOp.PLAN, RolloutOp.APPLY)
        if needs_document and self.document is None:
            raise ValueError("document (the desired state) is required for plan and apply orders")
        if not needs_document and self.document is not None:
            raise ValueError(f"document is only for plan and apply orders, not {op.value}")
        if op is RolloutOp.APPLY and self.plan_hash is None:
            raise ValueError("planHash (of the reviewed plan) is required for an apply order")
        if op is not RolloutOp.APPLY and self.plan_hash is not None:
            raise ValueError(f"planHash is only for apply orders, not {op.value}")
        if op in (RolloutOp.ABORT, RolloutOp.ROLLBACK) and self.reason is None:
            raise ValueError("reason is required for abort and rollback orders (it is audited)")
        if op in (RolloutOp.PLAN, RolloutOp.APPLY, RolloutOp.RESUME) and self.reason is not None:
            raise ValueError(f"reason is only for pause, abort and rollback orders, not {op.value}")
        return self

    def desired_state(self) -> DesiredState:
        """The order's document as the domain's model (plan and apply orders only)."""
        if self.document is None:
            raise ValueError(f"a {self.op.value} order has no document")
        return parse_desired_state(self.document, source="document")


class RolloutError(CamelModel):
    """Why the connector refused an order: the engine's stable code, message and hint."""

    code: str = Field(pattern=ERROR_CODE)
    message: str = Field(min_length=1, max_length=2000)
    hint: str | None = Field(default=None, max_length=1000)


_RESULT_SHAPES: list[dict[str, Any]] = [
    {"properties": {"state": {"const": "done"}} | _null("error"), "required": ["state"]},
    {
        "properties": {"state": {"const": "refused"}} | _null("result"),
        "required": ["state", "error"],
    },
]


class RolloutOrderResult(CamelModel):
    """How an order ended at the connector (connector listener).

    `done`: `result` is the plan (plan orders, as `cobridge workloads plan
    --json` prints it) or the rollout's status after the order. `refused`:
    `error` says why (`plan_changed`, `nothing_to_apply`,
    `rollout_in_progress`, `no_rollout`, `rollout_refused`, ...).
    """

    model_config = ConfigDict(json_schema_extra={"oneOf": _RESULT_SHAPES})

    state: Literal["done", "refused"]
    result: dict[str, Any] | None = None
    error: RolloutError | None = None

    @model_validator(mode="after")
    def _result_or_error(self) -> RolloutOrderResult:
        if self.state == "done" and self.error is not None:
            raise ValueError("a done order has no error")
        if self.state == "refused" and (self.error is None or self.result is not None):
            raise ValueError("a refused order has an error and no result")
        return self


class RolloutOrderOut(CamelResponse):
    """An order as the tenant keeps it: what was asked, by whom, and how it ended.

    `doneAt`, `result` and `error` are set once the connector reported the
    order done (`result`) or refused (`error`).
    """

    order_id: str
    hierarchy_id: str
    op: RolloutOp
    state: RolloutOrderState
    document: dict[str, Any] | None
    plan_hash: str | None
    reason: str | None
    requested_by: str
    requested_at: datetime
    done_at: datetime | None
    result: dict[str, Any] | None
    error: RolloutError | None


class RolloutOrderPage(CamelResponse):
    """A hierarchy's orders, newest first."""

    value: list[RolloutOrderOut]


class RolloutOrderQuery(CamelModel):
    """Filters of the order list: its state; how many (newest first)."""

    state: RolloutOrderState | None = None
    top: int = Field(default=50, ge=1, le=500, alias="$top")


class RolloutOrderAck(CamelResponse):
    """The tenant's answer to a result: the order's state, and whether it already had this one."""

    order_id: str
    state: RolloutOrderState
    replayed: bool


class RolloutStage(CamelResponse):
    """One stage of the rollout: "wave 2 (10%)", its soak, and where it is."""

    stage: int
    label: str
    soak: str
    status: str


class RolloutHealth(CamelResponse):
    """The rollout's handoffs since it started: touched, in flight, stalled, failed; conflicts."""

    touched: int
    unsettled: int
    stalled: int
    failed: int
    conflicts: int


class RolloutGates(CamelResponse):
    """The document's health gates and what a tripped one does (pause or rollback)."""

    max_failed_percent: float
    max_stalled_percent: float
    max_conflicts: int
    min_compliance_percent: float | None = None
    on_trip: str


class RolloutHistoryEntry(CamelResponse):
    """One audited step of the rollout (the connector's audit log entry)."""

    seq: int
    at: datetime
    actor: str
    action: str
    details: dict[str, Any] = Field(default_factory=dict)


class RolloutStatusReport(CamelResponse):
    """The connector's active rollout, else its last one (`cobridge workloads status --json`).

    `phase`: applying, soaking, paused, rolling_back, completed, rolled_back or
    aborted. `stage` of `finalStage`; `summary` is the status line people read.
    Unknown fields are ignored, so a newer connector's report is still taken.
    """

    rollout_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    active: bool
    phase: str = Field(min_length=1, max_length=32)
    stage: int = Field(ge=0)
    final_stage: int = Field(ge=1)
    summary: str
    reason: str | None = None
    soak_until: datetime | None = None
    plan_hash: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    workloads: list[str] = Field(default_factory=list)
    stages: list[RolloutStage] = Field(default_factory=list)
    health: RolloutHealth
    gates: RolloutGates
    history: list[RolloutHistoryEntry] = Field(default_factory=list)


class RolloutStatusAck(CamelResponse):
    """Whether the report changed what the tenant holds, and when it was received."""

    changed: bool
    reported_at: datetime


class RolloutOut(CamelResponse):
    """A hierarchy's rollout as its connector last reported it (`rollout` null: never)."""

    hierarchy_id: str
    reported_at: datetime | None
    rollout: RolloutStatusReport | None
