"""B8: planning a staged rollout over a whole fleet, beside the desired-holder rule alone.

The fleet is generated in the measuring child, one device at a time (as a
site read streams it): SMSID, name, co-management facts (80% co-managed)
and one to three collection memberships out of 200, built with
`DeviceFacts.model_construct` as the connector's arbitration pass builds
them. 100k devices by default, 700k with --large (COBRIDGE_BENCH_B8_DEVICES
overrides).

The document moves four workloads in a 5-wave rollout (a pilot-ring
collection, then 1%, 10%, 25%, 50%, then the final stage): Compliance and
Device configuration to the cloud (carrying Resource access and Endpoint
Protection along), Windows Update to a pilot, Client apps back to the site.

Rows, each in a fresh process (its own peak RSS):
1. the fleet generated alone (the floor under both others);
2. the baseline: `desired_holders` for every device under the site's settings
   (what the arbiter computes each pass);
3. the plan: `Planner` over the same stream, then the text and JSON renders.
The plan's peak RSS staying near the generator's shows it streams.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench.measure import Measurement, report
from workloads.authority import DeviceFacts, desired_holders
from workloads.catalog import Workload
from workloads.rollout import (
    PlanDevice,
    Planner,
    parse_desired_state_toml,
    plan_to_dict,
    render_plan_text,
)
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting

COLLECTIONS = [f"PS1{n:05X}" for n in range(0x100, 0x100 + 200)]
RING, DC_PILOT, WU_PILOT, APPS_PILOT = (
    COLLECTIONS[0],
    COLLECTIONS[1],
    COLLECTIONS[2],
    COLLECTIONS[3],
)

DOCUMENT = f"""
[workloads.compliance]
slider = "cloud"
[workloads.device-configuration]
slider = "cloud"
[workloads.windows-update]
slider = "pilot"
pilot_collection = "{WU_PILOT}"
[workloads.client-apps]
slider = "configmgr"

[rollout]
name = "bench-b8"
[[rollout.waves]]
collections = ["{RING}"]
soak = "2h"
[[rollout.waves]]
percent = 1
soak = "2h"
[[rollout.waves]]
percent = 10
soak = "4h"
[[rollout.waves]]
percent = 25
soak = "1d"
[[rollout.waves]]
percent = 50
soak = "1d"
"""

SETTINGS = (
    CoManagementSettings(enabled=True)
    .with_workload(
        Workload.DEVICE_CONFIGURATION,
        WorkloadSetting(slider=Slider.PILOT, pilot_collection=DC_PILOT),
    )
    .with_workload(
        Workload.CLIENT_APPS, WorkloadSetting(slider=Slider.PILOT, pilot_collection=APPS_PILOT)
    )
)


def fleet(count: int) -> Iterator[PlanDevice]:
    """`count` devices, generated one at a time, the same on every call."""
    for n in range(count):
        # A cheap, well-spread permutation of n decides memberships and facts.
        mix = (n * 2654435761) & 0xFFFFFFFF
        members = {COLLECTIONS[4 + mix % 196]}
        if mix % 3 == 0:
            members.add(COLLECTIONS[4 + (mix >> 8) % 196])
        if mix % 100 == 7:
            members.add(RING)
        for pilot, share in ((DC_PILOT, 20), (WU_PILOT, 15), (APPS_PILOT, 10)):
            if (mix >> 12) % share == 0:
                members.add(pilot)
        co_managed = (mix >> 4) % 10 < 8
        facts = DeviceFacts.model_construct(
            agent_present=True,
            mdm_enrolled=co_managed,
            comgmt_policy_present=co_managed,
            entra_joined=True,
            os_name="Microsoft Windows NT Workstation 10.0",
            os_build="10.0.22631",
            collection_ids=frozenset(members),
        )
        yield PlanDevice(f"GUID:{n:08X}-B8B8-4000-8000-{mix:012X}", facts, f"PC-{n:07d}")


def generate_only(count: int) -> dict[str, Any]:
    """Row 1: the stream alone."""
    seen = sum(1 for _ in fleet(count))
    return {"items": seen}


def rule_only(count: int) -> dict[str, Any]:
    """Row 2, the baseline: the desired-holder rule for every device."""
    on_cloud = 0
    for device in fleet(count):
        on_cloud += sum(
            h.value == "cloud" for h in desired_holders(SETTINGS, device.facts).values()
        )
    return {"items": count, "on_cloud": on_cloud}


def plan_fleet(count: int) -> dict[str, Any]:
    """Row 3: the plan of the document over the stream, rendered as text and JSON."""
    document = parse_desired_state_toml(DOCUMENT)
    planner = Planner(SETTINGS, document)
    planner.add_all(fleet(count))
    plan = planner.finish()
    text = render_plan_text(plan)
    data = plan_to_dict(plan)
    return {
        "items": plan.devices,
        "plan_hash": plan.plan_hash,
        "totals": data["totals"],
        "stages": [(s.label, s.devices) for s in plan.stages],
        "co_managed": plan.co_managed,
        "text_lines": text.count("\n"),
        "summary": text.splitlines()[-2],
    }


def _child(fn: Callable[[int], dict[str, Any]], count: int, queue: Any) -> None:
    try:
        started = time.perf_counter()
        figures = fn(count)
        figures["seconds"] = time.perf_counter() - started
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put((figures, None))
    except BaseException as exc:  # reported to the parent, which raises
        queue.put(({}, f"{type(exc).__name__}: {exc}"))


def measure_figures(
    label: str, fn: Callable[[int], dict[str, Any]], count: int
) -> tuple[Measurement, dict[str, Any]]:
    """`fn(count)` in a spawned process: its Measurement and the figures it returned."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(fn, count, queue))
    process.start()
    figures, error = queue.get()
    process.join()
    if error:
        raise RuntimeError(f"{label}: {error}")
    return Measurement(label, figures["seconds"], figures["items"], figures["peak_rss_mb"]), figures


def run(*, large: bool, data_dir: str) -> None:
    """Run B8 (no data directory needed: the fleet is generated in each child)."""
    del data_dir
    raw = os.environ.get("COBRIDGE_BENCH_B8_DEVICES", "").strip()
    count = int(raw) if raw else (700_000 if large else 100_000)
    generated, _ = measure_figures("fleet generated alone (the stream)", generate_only, count)
    rule, rule_figures = measure_figures(
        "baseline: desired_holders per device (prior settings)", rule_only, count
    )
    planned, figures = measure_figures(
        "plan: 5 waves + final, 4 workloads, text and JSON", plan_fleet, count
    )
    again, again_figures = measure_figures("plan again (same stream)", plan_fleet, count)
    own = max(planned.seconds - generated.seconds, 1e-9)
    rule_own = max(rule.seconds - generated.seconds, 1e-9)
    stages = ", ".join(f"{label} {devices:,}" for label, devices in figures["stages"])
    report(
        f"B8 rollout plan: {count:,} devices ({figures['co_managed']:,} co-managed), "
        "5 waves, 7 workloads decided per device",
        [generated, rule, planned, again],
        [
            f"plan {planned.seconds:.2f} s = {planned.seconds / rule.seconds:.2f}x the baseline "
            f"({rule.seconds:.2f} s); beyond the stream: plan {own:.2f} s vs rule "
            f"{rule_own:.2f} s = {own / rule_own:.2f}x",
            f"plan rate {planned.rate:,.0f} devices/s; peak RSS plan {planned.peak_rss_mb:.0f} MB "
            f"vs stream alone {generated.peak_rss_mb:.0f} MB (streaming: counters and samples only)",
            f"devices per stage: {stages}",
            f"{figures['summary']}",
            f"plan hash repeatable: {figures['plan_hash'] == again_figures['plan_hash']} "
            f"({figures['plan_hash'][:16]}...); text {figures['text_lines']} lines",
            f"baseline: {rule_figures['on_cloud']:,} (device, workload) on the cloud before",
        ],
    )
