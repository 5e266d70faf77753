"""The demo's staged rollout: Windows Update to the cloud in three stages, watched to its end.

Written to the demo's data directory as a desired-state file, planned over
the demo site, applied with the plan's own hash (as an operator would after
reviewing it) and then moved by the running connector, one stage per
arbitration pass with a short soak. `watch_rollout` follows the connector's
state until the rollout ends and yields each change of phase or stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.audit import load_signer
from bridge.rollout import RolloutEngine, plan_site
from bridge.rollout.status import rollout_status
from bridge.runtime.runner import utc_now
from bridge.runtime.site import site_authority, site_reader
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from onprem.site_database import create_site_engine
from workloads.rollout import Plan, parse_desired_state_toml, render_plan_text

DEMO_ROLLOUT_FILE = "rollout.toml"
DEMO_ROLLOUT = """# Written by `cobridge demo`: Windows Update policies to the cloud, in three stages.
version = 1

[workloads.windows-update]
slider = "cloud"

[rollout]
name = "demo-windows-update"

[[rollout.waves]]     # stage 1: 10% of the co-managed devices (stable hash)
percent = 10
soak = 2

[[rollout.waves]]     # stage 2: up to 50%
percent = 50
soak = 2
# stage 3 (final): every remaining device

[rollout.gates]
max_failed_percent = 5
max_stalled_percent = 5
max_conflicts = 0
on_trip = "rollback"
"""
TERMINAL = ("completed", "rolled_back", "aborted")


@dataclass
class DemoRollout:
    """The applied rollout: its plan and the file it came from."""

    path: Path
    plan: Plan
    rollout_id: str


def start_demo_rollout(data_dir: Path, config_path: Path) -> DemoRollout:
    """Write the demo's desired-state file, plan it over the site and apply that plan."""
    path = data_dir / DEMO_ROLLOUT_FILE
    path.write_text(DEMO_ROLLOUT, encoding="utf-8")
    document = parse_desired_state_toml(DEMO_ROLLOUT, source=str(path))
    settings = ConnectorSettings.load(config_path)
    engine = create_site_engine(settings.site.url(), must_exist=True)
    try:
        site = site_authority(engine)
        with _state(settings) as state:
            rollouts = RolloutEngine(
                state, site, lambda: load_signer(settings.data_dir), clock=utc_now
            )
            plan = plan_site(site.read_settings(), document, site_reader(engine))
            stored = rollouts.apply(document, plan, reviewed=plan.plan_hash, by="demo")
    finally:
        engine.dispose()
    return DemoRollout(path, plan, stored.rollout_id)


def plan_text(rollout: DemoRollout) -> str:
    """The plan as `cobridge workloads plan` prints it, without samples."""
    return render_plan_text(rollout.plan, samples=False).rstrip()


def _state(settings: ConnectorSettings) -> ConnectorState:
    db = settings.state.db.get_secret_value() if settings.state.db else None
    return ConnectorState.open(db, data_dir=settings.data_dir)


async def watch_rollout(
    config_path: Path, *, timeout: float, every: float = 0.5
) -> AsyncIterator[dict[str, Any]]:
    """Each new (phase, stage) of the demo's rollout until it ends or `timeout` passes."""
    seen: tuple[str, int] | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with _state(ConnectorSettings.load(config_path)) as state:
        while loop.time() < deadline:
            status = await asyncio.to_thread(rollout_status, state, now=utc_now())
            if status is not None and (status["phase"], status["stage"]) != seen:
                seen = (status["phase"], status["stage"])
                yield status
                if status["phase"] in TERMINAL:
                    return
            await asyncio.sleep(every)
