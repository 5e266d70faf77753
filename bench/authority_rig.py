"""What B4's handoff part needs: a child measurement with figures of its own, and a handoff
run against the embedded site's gate and a tenant's gate over HTTPS.

`measure_child` runs a function in a spawned process, as `bench.measure`
does, but lets it time its own critical section (setup such as starting a
service stays out of the figure) and hand back figures beside the count.

`handoff_run` is one child's work: a fresh embedded site store (migrated,
no devices: the gates accept any canonical SMSID), the cloud service in the
child's event loop over HTTPS on a fresh SQLite store (`tests.support.cloud_service`,
as the co-management system tests run it), a tenant and an enrolled
connector (`tests.support.sync_rig.attach`), then `count` devices' one workload
switched from the site to the cloud, either by `Arbiter.reconcile` (journal
in the connector's state store) or by the same commands sent straight
through the same side adapters (the baseline). Afterwards both gates' logs
give each record's holder-less gap: from the site's revoke being applied to
the cloud's grant being applied.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import Measurement
from bench.sync_rig import fresh_dir
from bridge.arbiter.arbiter import BATCH, Arbiter
from bridge.arbiter.sides import CloudSide, SiteSide
from cloud.store.engine import migrate_store, store_urls
from installer.demo.simulator import authority_log
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_database import create_site_engine
from onprem.site_store import migrate_site
from tests.support.cloud_service import start_service
from tests.support.sync_rig import attach, close
from workloads.catalog import Holder, Workload
from workloads.invariant import Event, GrantEvent, RevokeEvent, check
from workloads.messages import Ack, Command, Grant, Key, Revoke

SWITCHED = Workload.COMPLIANCE
MODES = ("raw", "arbiter")


def _child(fn: Callable[..., dict[str, Any]], args: tuple[Any, ...], queue: Any) -> None:
    try:
        started = time.perf_counter()
        figures = fn(*args)
        figures.setdefault("seconds", time.perf_counter() - started)
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put((figures, None))
    except BaseException as exc:  # reported to the parent, which raises
        queue.put(({}, f"{type(exc).__name__}: {exc}"))


def measure_child(
    label: str, fn: Callable[..., dict[str, Any]], *args: Any
) -> tuple[Measurement, dict[str, Any]]:
    """Run `fn(*args)` in a spawned process: its Measurement and every figure it returned.

    `fn` returns a dict with `items` and, when it times only part of its
    work, `seconds` (else the whole call is timed). Peak RSS is the child's.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(fn, args, queue))
    process.start()
    figures, error = queue.get()
    process.join()
    if error:
        raise RuntimeError(f"{label}: {error}")
    measurement = Measurement(label, figures["seconds"], figures["items"], figures["peak_rss_mb"])
    return measurement, figures


def smsid(n: int) -> str:
    """The `n`-th device id of the handoff run, in the canonical SMSID shape."""
    return f"GUID:{str(uuid.UUID(int=(0x4B4 << 96) + n)).upper()}"


def now() -> datetime:
    """The real clock: both gates' logs are on it."""
    return datetime.now(UTC)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile of `values` (nearest rank); 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def holderless_gaps(events: Sequence[Event]) -> list[float]:
    """Per record: seconds from the site's applied revoke to the cloud's applied grant (same epoch)."""
    revoked: dict[tuple[Key, int], datetime] = {}
    granted: dict[tuple[Key, int], datetime] = {}
    for event in events:
        key = ((event.device, event.workload), event.epoch)
        if isinstance(event, RevokeEvent) and event.side is Holder.CONFIGMGR:
            revoked.setdefault(key, event.at)
        elif isinstance(event, GrantEvent) and event.side is Holder.CLOUD:
            granted.setdefault(key, event.at)
    return [(granted[k] - at).total_seconds() for k, at in revoked.items() if k in granted]


def _batches(commands: Sequence[Command], size: int) -> list[Sequence[Command]]:
    return [commands[start : start + size] for start in range(0, len(commands), size)]


async def _raw(sides: dict[Holder, Any], keys: Sequence[Key]) -> int:
    """The baseline: every revoke to the site, then every grant to the cloud; grants acknowledged."""
    revokes = [Revoke(Holder.CONFIGMGR, device, workload, 1) for device, workload in keys]
    for batch in _batches(revokes, BATCH):
        await sides[Holder.CONFIGMGR].send(batch)
    grants = [Grant(Holder.CLOUD, device, workload, 1) for device, workload in keys]
    held = 0
    for batch in _batches(grants, BATCH):
        held += sum(isinstance(r, Ack) for r in await sides[Holder.CLOUD].send(batch))
    return held


async def _handoff(count: int, mode: str, workdir: str) -> dict[str, Any]:
    base = fresh_dir(Path(workdir))
    site_engine = create_site_engine(f"sqlite:///{base / 'site.db'}")
    migrate_site(site_engine)
    urls = store_urls(None, base / "store")
    migrate_store(urls[0])
    service_run = start_service(urls, base / "cloud")
    service = await anext(service_run)
    try:
        rig = await attach(service, site_engine, base / "connector")
        try:
            site = EmbeddedSiteAuthority(site_engine)
            sides: dict[Holder, Any] = {
                Holder.CONFIGMGR: SiteSide(site, clock=now),
                Holder.CLOUD: CloudSide(rig.connector),
            }
            keys = [(smsid(n), SWITCHED) for n in range(count)]
            origin = now()
            started = time.perf_counter()
            if mode == "arbiter":
                arbiter = Arbiter(rig.state, sides, clock=now)
                report = await arbiter.reconcile(dict.fromkeys(keys, Holder.CLOUD), complete=True)
                held, in_flight = report.settled, report.in_flight
            else:
                held, in_flight = await _raw(sides, keys), 0
            seconds = time.perf_counter() - started
            events = await authority_log(site, rig.admin, rig.hierarchy_id)
        finally:
            await close(rig)
    finally:
        await service_run.aclose()
        site_engine.dispose()
    gaps = holderless_gaps(events)
    commands = [e for e in events if isinstance(e, GrantEvent | RevokeEvent)]
    span = {
        side: [e.at for e in commands if e.side is side and isinstance(e, kind)]
        for side, kind in ((Holder.CONFIGMGR, RevokeEvent), (Holder.CLOUD, GrantEvent))
    }
    return {
        "seconds": seconds,
        "items": held,
        "in_flight": in_flight,
        "violations": len(check(events)),
        "gaps": len(gaps),
        "gap_p50": percentile(gaps, 0.50),
        "gap_p99": percentile(gaps, 0.99),
        "gap_max": max(gaps, default=0.0),
        "gap_mean": statistics.fmean(gaps) if gaps else 0.0,
        # When each gate applied its first and last command, from the timed start.
        "site_revokes": _window(span[Holder.CONFIGMGR], origin),
        "cloud_grants": _window(span[Holder.CLOUD], origin),
    }


def _window(moments: Sequence[datetime], origin: datetime) -> tuple[float, float]:
    if not moments:
        return (0.0, 0.0)
    return ((min(moments) - origin).total_seconds(), (max(moments) - origin).total_seconds())


def handoff_run(count: int, mode: str, workdir: str) -> dict[str, Any]:
    """One handoff measurement (`mode` is "raw" or "arbiter"), in the measuring child."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    return asyncio.run(_handoff(count, mode, workdir))
