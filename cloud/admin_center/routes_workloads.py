"""The workloads page: per co-management workload, devices per holder, conflicts, a chart.

The numbers are the API's `GET /api/v1/workloads` (`workload_counts`, the
same store function): records the connectors reported, settled on the site,
settled on the cloud, or in a handoff. The chart is inline SVG drawn on the
server (the pages' security policy allows no inline style, so bar lengths are
SVG attributes); every number it draws is also printed as text beside it.
Below it, the Rollout progress card (`rollout_card`): each hierarchy's
rollout as its connector reported it, and for operators the commands its
phase allows, which queue rollout orders through the API's handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.rollout_card import (
    BUTTONS,
    REASONS,
    describe_gates,
    describe_order,
    rollout_views,
    step_kind,
)
from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.authority_views import WorkloadCountOut
from cloud.contract.rollouts import RolloutOp, RolloutOrder
from cloud.service import routes_rollouts
from cloud.store.authority_reads import workload_counts

pages = Pages()
# (count field, label) in the order the segments are stacked.
SEGMENTS = (("configmgr", "Site"), ("cloud", "Cloud"), ("in_handoff", "In handoff"))


@dataclass(frozen=True)
class Segment:
    """One holder's part of a workload's bar: where it starts and how long it is, in percent."""

    kind: str
    label: str
    count: int
    x: str
    width: str


@dataclass(frozen=True)
class Row:
    """One workload as the page shows it: its counts and its bar."""

    counts: WorkloadCountOut
    total: int
    segments: list[Segment]

    @property
    def summary(self) -> str:
        """The bar in words, for readers that do not see it."""
        parts = ", ".join(f"{s.label.lower()} {s.count}" for s in self.segments)
        return f"{self.counts.display_name}: {parts}"


def _percent(value: float) -> str:
    return f"{value:.3f}%"


def rows(counts: list[WorkloadCountOut]) -> list[Row]:
    """Each workload's bar, scaled to the longest one (so that bars compare across workloads)."""
    totals = [sum(getattr(c.counts, k) for k, _ in SEGMENTS) for c in counts]
    longest = max(totals, default=0)
    out = []
    for item, total in zip(counts, totals, strict=True):
        x = 0.0
        segments = []
        for kind, label in SEGMENTS:
            count = getattr(item.counts, kind)
            width = 100.0 * count / longest if longest else 0.0
            segments.append(Segment(kind, label, count, _percent(x), _percent(width)))
            x += width
        out.append(Row(item, total, segments))
    return out


@pages.page("GET", "/workloads", nav=NavEntry("Workloads", order=60))
async def workloads(visit: Visit) -> web.StreamResponse:
    """The seven workloads: devices per holder and in handoff, conflicts, cloud grants."""
    async with visit.state.engine.connect() as conn:
        counts = await workload_counts(conn, visit.tenant_id)
        rollouts = await rollout_views(conn, visit.tenant_id)
    shown = rows(counts.value)
    return visit.render(
        "workloads.html",
        rows=shown,
        segments=SEGMENTS,
        reported=any(r.total for r in shown),
        rollouts=rollouts,
        buttons=BUTTONS,
        reasons=REASONS,
        step_kind=step_kind,
        describe_gates=describe_gates,
        describe_order=describe_order,
    )


@pages.page("POST", "/workloads/rollouts/{hierarchyId}/{op}")
async def rollout_command(visit: Visit) -> web.StreamResponse:
    """Queue a pause, resume, abort or rollback order through the API's handler; back to the card."""
    if not visit.can_change:
        raise PageError(
            403, "Not allowed", "Only an operator or an admin of the tenant may do this."
        )
    hierarchy_id = visit.request.match_info["hierarchyId"]
    op = visit.request.match_info["op"]
    if op not in {o.value for o in BUTTONS}:
        raise PageError(404, "Not found", "There is no such rollout command.")
    form = await visit.request.post()
    reason = str(form.get("reason", "")).strip()
    key = str(form.get("key", "")).strip()
    try:
        order = RolloutOrder(
            op=RolloutOp(op),
            reason=reason if reason and REASONS[RolloutOp(op)] != "none" else None,
            idempotency_key=key or None,
        )
    except ValidationError as exc:
        message = str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
        raise PageError(400, "Not a valid order", f"{message}.") from None
    await visit.api(routes_rollouts.create_rollout_order, order)
    raise web.HTTPSeeOther(f"/workloads#rollout-{quote(hierarchy_id, safe='')}")
