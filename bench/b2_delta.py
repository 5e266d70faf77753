"""B2: a delta cycle beside a full resync of the same data; and source-to-tenant freshness.

Targets (DESIGN.md section 14): the delta's cost is about proportional to
the changes; a change at the source is visible in the tenant API within 60 s
under default settings.

On a copy of the cached 100k-device site, after the connector's first full
sync (attach), the site gets exactly 5% modified, 1% new and 1% deleted
devices (`bench.site_delta`). Then, each as `cobridge connector run --once`
in a process of its own: the delta cycle; a cycle with nothing changed (the
fixed cost of reading and diffing the whole site); and a full resync of the
same data by the same connector after the site's instance id changed (as a
restore from backup does), which ignores every stored hash and re-uploads
every device to the tenant that already holds them. The delete guard would
hold 1,000 deletes (its default limit is 500), so these runs set
`[sync] delete_guard_count = 100000` (COBRIDGE_CONNECTOR_SYNC__DELETE_GUARD_COUNT).

Freshness: the connector runs continuously with default settings (a cycle
every 60 s); at a random moment one device's primary user is changed at the
site, and the admin API is polled until it shows the change
(COBRIDGE_BENCH_B2_SAMPLES samples, default 3).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.b5_site_read import AS_OF, _seeded
from bench.measure import Measurement, measure, report
from bench.site_delta import Delta, apply_delta, edit_user, restore_identity
from bench.sync_rig import (
    Service,
    backend,
    cloud_settings,
    connector_once,
    create_tenant,
    cycle_measurement,
    enroll_identity,
    env_int,
    fresh_dir,
    in_child,
    last_cycle,
    serving,
    site_identity,
    verdict,
    write_config,
)
from bridge.state import ConnectorState
from bridge.tenant.admin import AdminClient
from cloud.contract.devices import DeviceQuery

DEVICES = 100_000
INTERVAL = 60.0  # the default [sync] interval_seconds


def _delta(site: Path) -> Delta:
    return apply_delta(
        site,
        modified=DEVICES * 5 // 100,
        added=DEVICES // 100,
        deleted=DEVICES // 100,
        seed=2,
        as_of=AS_OF + timedelta(days=1),
    )


def _cycle(label: str, config: Path, data_dir: Path) -> Measurement:
    try:
        process = measure(label, connector_once, str(config))
    except RuntimeError as failure:
        # A failed cycle changes nothing (its run record says why): say so, and run it again.
        print(f"  {label} failed, run again: {str(failure).splitlines()[0]}", flush=True)
        process = measure(label, connector_once, str(config))
    return cycle_measurement(label, process, last_cycle(data_dir))


def _first_cycle_after(data_dir: Path, moment: datetime, timeout: float) -> None:
    """Wait until the running connector finished a cycle started after `moment`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ConnectorState.open(None, data_dir=data_dir, migrate=False) as state:
            run = state.runs.latest()
        if run is not None and run.started_at >= moment and run.outcome is not None:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the connector finished no cycle within {timeout:.0f} s")


async def _samples(site: Path, service: Service, token: str, samples: int) -> list[float]:
    rng = random.Random()
    latencies: list[float] = []
    async with AdminClient(service.api_url, None, ca_pem=service.ca_pem, token=token) as admin:
        page = await admin.list_devices(DeviceQuery(top=500))
        candidates = [d for d in page.value if isinstance(d.get("resourceId"), int)]
        for n in range(samples):
            device = rng.choice(candidates)
            await asyncio.sleep(rng.uniform(0, INTERVAL))
            user = f"fresh{n}-{uuid.uuid4().hex[:8]}"
            await asyncio.to_thread(edit_user, site, device["resourceId"], user)
            changed = time.monotonic()
            while (await admin.device(str(device["id"]))).device.user_name != user:
                if time.monotonic() - changed > 3 * INTERVAL + 120:
                    raise TimeoutError(f"the change of {device['deviceName']} never showed")
                await asyncio.sleep(0.25)
            latencies.append(time.monotonic() - changed)
            print(f"  freshness sample {n + 1}: {latencies[-1]:.1f} s", flush=True)
    return latencies


def freshness(base: Path, site: Path, service: Service, token: str, samples: int) -> list[float]:
    """Latencies from a site change to its visibility in the API, connector running throughout."""
    config = write_config(
        base / "connector-defaults.toml",
        data_dir=base / "connector",
        site=site,
        service=service,
        log_level="info",  # its cycles, in connector-run.log
    )
    log = (base / "connector-run.log").open("w")
    started = datetime.now(UTC) - timedelta(seconds=1)
    # `cobridge connector run`, with this interpreter and this checkout.
    process = subprocess.Popen(
        [sys.executable, "-m", "installer", "connector", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        _first_cycle_after(base / "connector", started, 600)
        return asyncio.run(_samples(site, service, token, samples))
    finally:
        process.terminate()
        process.wait(timeout=120)
        log.close()


def _report(
    store: str,
    delta: Delta,
    rows: list[Measurement],
    latencies: list[float],
) -> None:
    attach, changed, idle, full = rows
    changes = delta.modified + delta.added + delta.deleted
    per_change = (changed.seconds - idle.seconds) / changes * 1000
    per_device = (full.seconds - idle.seconds) / full.items * 1000
    notes = [
        f"delta: {delta.modified:,} modified, {delta.added:,} new, {delta.deleted:,} deleted "
        f"(touch_site gave {delta.touched_added:,} new and {delta.touched_deleted:,} deleted; "
        "the rest were added and deleted directly); delete_guard_count = 100000",
        f"delta / full resync = {changed.seconds / full.seconds:.0%} of the time for "
        f"{changes / full.items:.0%} of the devices changed",
        f"above the no-change cycle: {per_change:.3f} ms per change vs {per_device:.3f} ms per "
        f"device in the full resync (proportional: <= 2x): {verdict(per_change <= 2 * per_device)}",
    ]
    if latencies:
        worst = max(latencies)
        notes.append(
            f"source change visible in the tenant API, {len(latencies)} samples at random "
            f"moments, interval {INTERVAL:.0f} s: "
            + ", ".join(f"{s:.1f}" for s in latencies)
            + f" s (median {statistics.median(latencies):.1f}, max {worst:.1f}; target < 60 s): "
            + verdict(worst < 60)
        )
    report(
        f"B2 delta: {DEVICES:,}-device site, {store} tenant store (items: devices sent)",
        [changed, idle, full, attach],
        notes,
    )


def run(*, large: bool, data_dir: str) -> None:
    """Run B2 at 100k devices (the design's size; --large changes nothing here)."""
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    cached = root / f"site-{DEVICES}.db"
    in_child(_seeded, f"sqlite:///{cached}", DEVICES)
    base = fresh_dir(root / f"b2-{DEVICES}")
    site = base / "site.db"
    shutil.copyfile(cached, site)
    settings = cloud_settings(base, f"cobridge_bench_b2_{DEVICES}")
    tenant = create_tenant(settings, "b2")
    samples = env_int("COBRIDGE_BENCH_B2_SAMPLES", 3)
    state = base / "connector"
    with serving(settings) as service:
        enroll_identity(state, service, tenant.codes[0], site_identity(site))
        config = write_config(
            base / "connector.toml",
            data_dir=state,
            site=site,
            service=service,
            delete_guard_count=100_000,
        )
        attach = _cycle("attach: first full sync (reference)", config, state)
        delta = in_child(_delta, site)
        changed = _cycle("delta cycle", config, state)
        idle = _cycle("no-change cycle (read + diff only)", config, state)
        restore_identity(site)
        full = _cycle("full resync, same data (instance id changed)", config, state)
        latencies = freshness(base, site, service, tenant.token, samples) if samples else []
    _report(backend(settings), delta, [attach, changed, idle, full], latencies)
