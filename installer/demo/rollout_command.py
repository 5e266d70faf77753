"""The demo's staged rollout, printed as it goes (or summed up for `--once`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bridge.cli.output import console
from bridge.rollout import NothingToApply
from installer.demo.rollout import plan_text, start_demo_rollout, watch_rollout
from installer.demo.system import DemoSystem

ROLLOUT_TIMEOUT = 600


async def run_demo_rollout(system: DemoSystem, *, quiet: bool) -> dict[str, Any]:
    """Apply the demo's rollout and follow it to its end; what it went through."""
    out = console()
    try:
        started = await asyncio.to_thread(start_demo_rollout, system.data_dir, system.config_path)
    except NothingToApply:
        if not quiet:
            out.print(
                "Staged rollout: the demo's rollout already ran on this site (nothing to do)."
            )
        return {"phases": ["completed"], "devices_changing": 0, "already_done": True}
    if not quiet:
        out.print(f"[bold]Staged rollout[/bold] from {started.path} (applied by `demo`):")
        out.print(plan_text(started))
        out.print("The connector moves one stage per pass; following it:")
    phases: list[str] = []
    stages: list[int] = []
    async for status in watch_rollout(system.config_path, timeout=ROLLOUT_TIMEOUT):
        phases.append(status["phase"])
        stages.append(status["stage"])
        if not quiet:
            h = status["health"]
            out.print(
                f"{time.strftime('%H:%M:%S')} rollout {status['name']}: {status['summary']} "
                f"(handoffs {h['touched']}, in flight {h['unsettled']}, failed {h['failed']})"
            )
    return {
        "rollout_id": started.rollout_id,
        "devices_changing": started.plan.devices_changing,
        "plan_hash": started.plan.plan_hash,
        "phases": phases,
        "stages": stages,
    }
