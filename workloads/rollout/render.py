"""A plan as text (the way an infrastructure-as-code tool prints one) and as JSON-able data.

Text lines, per workload the document names or that moves:

    ~ compliancePolicy (Compliance policies): configmgr -> cloud
      + compliancePolicy: wave 1 (PS100014): 1,234 devices site → cloud
          GUID:...  PC-0001
      - windowsUpdateForBusiness: wave 2 (10%): 3 devices cloud → site
      + endpointProtection: wave 1 (PS100014): 40 devices site → cloud, carried along by Device configuration
      = compliancePolicy: 5,000 devices unchanged

then the stages, a summary line and the plan hash. `+` is a move to the
cloud, `-` a move back to the site.
"""

from __future__ import annotations

from typing import Any

from workloads.catalog import Holder, Workload
from workloads.rollout.document import DesiredState, GateAction, describe_soak
from workloads.rollout.plan_result import Plan, SampleDevice, StageChanges, WorkloadPlan
from workloads.settings import Slider, WorkloadSetting

_SIDE = {Holder.CONFIGMGR: "site", Holder.CLOUD: "cloud"}


def _carrier_name(workload: Workload) -> str:
    # Only a dependant is carried along or follows: it has a carrier.
    carrier = workload.carrier
    return carrier.display_name if carrier is not None else workload.display_name


def _devices(count: int) -> str:
    return f"{count:,} device" + ("" if count == 1 else "s")


def describe_setting(setting: WorkloadSetting) -> str:
    """ "configmgr", "cloud" or "pilot (PS100014)"."""
    if setting.slider is Slider.PILOT:
        return f"pilot ({setting.pilot_collection})"
    return setting.slider.value


def describe_gates(document: DesiredState) -> str:
    """The gates in one line, and what a tripped gate does."""
    gates = document.gates
    parts = [
        f"failed handoffs ≤ {gates.max_failed_percent:g}%",
        f"stalled handoffs ≤ {gates.max_stalled_percent:g}%",
        f"conflicts ≤ {gates.max_conflicts}",
    ]
    if gates.min_compliance_percent is not None:
        parts.append(f"compliance ≥ {gates.min_compliance_percent:g}% when reported")
    action = "pauses" if gates.on_trip is GateAction.PAUSE else "rolls back"
    return f"{', '.join(parts)}; a tripped gate {action} the rollout"


def _move_lines(workload: Workload, stage: StageChanges, samples: bool) -> list[str]:
    lines: list[str] = []
    rows = (
        (stage.to_cloud, Holder.CLOUD, False),
        (stage.to_site, Holder.CONFIGMGR, False),
        (stage.carried_to_cloud, Holder.CLOUD, True),
        (stage.carried_to_site, Holder.CONFIGMGR, True),
    )
    for count, after, carried in rows:
        if not count:
            continue
        sign = "+" if after is Holder.CLOUD else "-"
        before = after.other
        tail = f", carried along by {_carrier_name(workload)}" if carried else ""
        lines.append(
            f"  {sign} {workload.value}: {stage.label}: {_devices(count)} "
            f"{_SIDE[before]} → {_SIDE[after]}{tail}"
        )
        if samples:
            lines.extend(
                _sample_line(d) for d in stage.sample if d.after is after and d.carried is carried
            )
    return lines


def _sample_line(device: SampleDevice) -> str:
    return f"      {device.smsid}  {device.name or ''}".rstrip()


def _workload_lines(plan: WorkloadPlan, samples: bool) -> list[str]:
    workload = plan.workload
    title = f"{workload.value} ({workload.display_name})"
    if plan.setting_changes:
        header = f"~ {title}: {describe_setting(plan.prior)} → {describe_setting(plan.target)}"
    elif plan.in_document:
        header = f"= {title}: already {describe_setting(plan.prior)}"
    else:
        header = f"~ {title}: follows {_carrier_name(workload)}"
    lines = [header]
    for stage in plan.stages:
        lines.extend(_move_lines(workload, stage, samples))
    lines.append(f"  = {workload.value}: {_devices(plan.unchanged)} unchanged")
    return lines


def render_plan_text(plan: Plan, *, samples: bool = True) -> str:
    """The plan as text, ending with a summary line and the plan hash."""
    document = plan.document
    waves = len(document.waves)
    if waves:
        shape = f"{waves} wave{'s' if waves != 1 else ''}, then the final stage"
    else:
        shape = "no waves: every device at once"
    lines = [
        f'Rollout "{document.name}": {shape}',
        f"Gates: {describe_gates(document)}",
        f"Devices: {plan.devices:,} ({plan.co_managed:,} co-managed"
        + ("" if plan.settings.enabled else "; co-management is off at the site")
        + ")",
        "",
    ]
    for workload in plan.workloads:
        lines.extend(_workload_lines(workload, samples))
    lines.append("")
    lines.append("Stages:")
    for stage in plan.stages:
        soak = f", then {describe_soak(stage.soak_seconds)}" if stage.stage <= waves else ""
        verb = "moves" if stage.devices == 1 else "move"
        lines.append(f"  {stage.label}: {_devices(stage.devices)} {verb}{soak}")
    if plan.outside_rollout:
        one = plan.outside_rollout == 1
        lines.append(
            f"Note: {plan.outside_rollout:,} workload holder{'' if one else 's'} "
            f"{'is' if one else 'are'} not yet where the site's current settings want "
            f"{'it' if one else 'them'}; the arbiter moves {'it' if one else 'them'} "
            "whatever this plan does."
        )
    lines.append(summary_line(plan))
    lines.append(f"Plan hash: {plan.plan_hash}")
    return "\n".join(lines) + "\n"


def summary_line(plan: Plan) -> str:
    """ "Plan: 12 moves on 9 devices: 10 site → cloud, 2 cloud → site (3 carried ...)."."""
    if not plan.has_changes:
        return "No changes: the site's settings and every holder already match the desired state."
    totals = plan.totals()
    if not totals["moves"]:
        return "Plan: the site's settings change, no device changes holder."
    carriers = dict.fromkeys(_carrier_name(w.workload) for w in plan.workloads if w.carried)
    carried = (
        f" ({totals['carried']:,} carried along by {' and '.join(carriers)})"
        if totals["carried"]
        else ""
    )
    return (
        f"Plan: {totals['moves']:,} moves on {_devices(plan.devices_changing)}: "
        f"{totals['to_cloud']:,} site → cloud, {totals['to_site']:,} cloud → site{carried}."
    )


def _sample_dict(device: SampleDevice) -> dict[str, Any]:
    return {
        "smsid": device.smsid,
        "name": device.name,
        "from": device.before.value,
        "to": device.after.value,
        "carried": device.carried,
    }


def _setting_dict(setting: WorkloadSetting) -> dict[str, Any]:
    return {"slider": setting.slider.value, "pilot_collection": setting.pilot_collection}


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-able data (for `--json` and the tenant API)."""
    return {
        "plan_hash": plan.plan_hash,
        "has_changes": plan.has_changes,
        "rollout": plan.document.name,
        "document": plan.document.to_dict(),
        "devices": plan.devices,
        "co_managed": plan.co_managed,
        "co_management_enabled": plan.settings.enabled,
        "outside_rollout": plan.outside_rollout,
        "totals": plan.totals() | {"devices": plan.devices_changing},
        "stages": [
            {
                "stage": s.stage,
                "label": s.label,
                "soak_seconds": s.soak_seconds,
                "devices": s.devices,
                "moves": s.moves,
            }
            for s in plan.stages
        ],
        "workloads": [
            {
                "workload": w.workload.value,
                "display_name": w.workload.display_name,
                "in_document": w.in_document,
                "from": _setting_dict(w.prior),
                "to": _setting_dict(w.target),
                "unchanged": w.unchanged,
                "stages": [
                    {
                        "stage": s.stage,
                        "label": s.label,
                        "to_cloud": s.to_cloud,
                        "to_site": s.to_site,
                        "carried_to_cloud": s.carried_to_cloud,
                        "carried_to_site": s.carried_to_site,
                        "sample": [_sample_dict(d) for d in s.sample],
                    }
                    for s in w.stages
                ],
            }
            for w in plan.workloads
        ],
    }
