"""B8, apply part: a staged rollout's throughput beside the direct `workloads set` path.

Each row runs in a fresh process on a fresh copy of one seeded embedded site
(20k devices by default, 100k with --large; COBRIDGE_BENCH_B8_APPLY_DEVICES
overrides), attached to the cloud service in the child's loop over HTTPS
(SQLite store), fully synced before the clock starts. Then Compliance moves
from the site to the cloud for every co-managed device:

1. direct: the slider is set at the site and arbitration passes run until no
   handoff is in flight (what `cobridge workloads set` leads to);
2. rollout: the same target as a 3-stage rollout (10%, 50%, the rest, no
   soak), planned, applied with its hash, and arbitration passes run back to
   back until it completes: stage signals, gates and audit entries included.

The figure is devices reaching their new holder per second, from the change
to the last handoff settled; the ratio is the rollout machinery's cost.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.authority_rig import measure_child
from bench.measure import report
from bench.sync_rig import fresh_dir
from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.cycle import ArbitrationPass
from bridge.arbiter.sides import CloudSide, SiteSide
from bridge.audit import load_signer
from bridge.rollout import RolloutDriver, RolloutEngine, plan_site
from cloud.store.engine import migrate_store, store_urls
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_reader import SiteReader
from tests.support.cloud_service import start_service
from tests.support.sync_rig import attach, close, seeded_site
from workloads.catalog import Holder, Workload
from workloads.rollout import RolloutPhase, parse_desired_state_toml
from workloads.settings import Slider, WorkloadSetting

DOCUMENT = """
version = 1
[workloads.compliance]
slider = "cloud"
[rollout]
name = "bench-compliance"
[[rollout.waves]]
percent = 10
soak = 0
[[rollout.waves]]
percent = 50
soak = 0
"""
MAX_PASSES = 20


def now() -> datetime:
    """The real clock (both gates log on it)."""
    return datetime.now(UTC)


def _cloud_held(rig: Any) -> int:
    journal = rig.state.authority
    entries = journal.entries(journal.journaled_smsids())
    return sum(
        1
        for (_, workload), e in entries.items()
        if workload is Workload.COMPLIANCE and e.record.holder is Holder.CLOUD
    )


async def _apply(devices: int, mode: str, workdir: str) -> dict[str, Any]:
    base = fresh_dir(Path(workdir))
    site_engine = seeded_site(base / "site.db", devices, seed=8)
    urls = store_urls(None, base / "store")
    migrate_store(urls[0])
    service_run = start_service(urls, base / "cloud")
    service = await anext(service_run)
    try:
        rig = await attach(service, site_engine, base / "connector")
        try:
            assert (await rig.engine().run_cycle()).outcome == "ok"
            site = EmbeddedSiteAuthority(site_engine)
            site.write_settings(site.read_settings().with_enabled(True), changed_by="b", now=now())
            sides = {
                Holder.CONFIGMGR: SiteSide(site, clock=now),
                Holder.CLOUD: CloudSide(rig.connector),
            }
            engine = RolloutEngine(rig.state, site, lambda: load_signer(base), clock=now)
            driver = RolloutDriver(engine) if mode == "rollout" else None

            def arbitration() -> ArbitrationPass:
                arbiter = Arbiter(rig.state, sides, clock=now)
                reader = SiteReader(site_engine, chunk_size=5000)
                return ArbitrationPass(
                    reader, site, arbiter, rig.state, None, clock=now, rollouts=driver
                )

            document = parse_desired_state_toml(DOCUMENT)
            plan = None
            if mode == "rollout":
                plan = plan_site(site.read_settings(), document, SiteReader(site_engine))
            started = time.perf_counter()
            if mode == "rollout":
                assert plan is not None
                engine.apply(document, plan, reviewed=plan.plan_hash, by="bench")
            else:
                cloud = WorkloadSetting(slider=Slider.CLOUD)
                changed = site.read_settings().with_workload(Workload.COMPLIANCE, cloud)
                site.write_settings(changed, changed_by="bench", now=now())
            passes = 0
            for passes in range(1, MAX_PASSES + 1):  # noqa: B007 (the count is reported)
                result = await arbitration().run()
                done = result.handoffs.in_flight == 0
                if mode == "rollout":
                    done = result.rollout is not None and result.rollout.phase is (
                        RolloutPhase.COMPLETED
                    )
                if done:
                    break
            seconds = time.perf_counter() - started
            held = _cloud_held(rig)
        finally:
            await close(rig)
    finally:
        await service_run.aclose()
        site_engine.dispose()
    return {"seconds": seconds, "items": held, "passes": passes}


def apply_run(devices: int, mode: str, workdir: str) -> dict[str, Any]:
    """One measurement ("direct" or "rollout"), in the measuring child."""
    return asyncio.run(_apply(devices, mode, workdir))


def run(*, large: bool, data_dir: str) -> None:
    """Run B8's apply part."""
    default = 100_000 if large else 20_000
    devices = int(os.environ.get("COBRIDGE_BENCH_B8_APPLY_DEVICES", default))
    work = Path(data_dir).resolve() / "b8-apply"
    direct, direct_figures = measure_child(
        "direct: slider set at the site, arbitration passes",
        apply_run,
        devices,
        "direct",
        str(work / "direct"),
    )
    rollout, figures = measure_child(
        "rollout: 3 stages (10%, 50%, rest), no soak",
        apply_run,
        devices,
        "rollout",
        str(work / "rollout"),
    )
    shutil.rmtree(work, ignore_errors=True)
    report(
        f"B8 apply: Compliance to the cloud on a {devices:,}-device site "
        "(embedded site gate, tenant gate over HTTPS on SQLite)",
        [direct, rollout],
        [
            f"devices reaching the cloud per second: rollout {rollout.rate:,.0f} vs direct "
            f"{direct.rate:,.0f} = {rollout.seconds / direct.seconds:.2f}x the direct time",
            f"arbitration passes: rollout {figures['passes']}, direct {direct_figures['passes']}; "
            f"devices moved: rollout {rollout.items:,}, direct {direct.items:,}",
            "(each pass reads the whole site; peak RSS includes the in-process cloud service)",
        ],
    )
