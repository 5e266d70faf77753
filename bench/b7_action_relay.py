"""B7: action relay throughput, beside the bound its concurrency limit allows.

10,000 queued client-schedule actions (COBRIDGE_BENCH_B7_ACTIONS; 50,000 with
--large) on 2,000 devices run to completion through the product path: the
relay (`bridge.actions.ActionRelay`: claims, journal in an SQLite connector
state, per-device and global limits, reports) and the WinRM adapter
(pywinrm: create shell, command, receive, signal, delete) against the
`responses` mock of WS-Management, whose every command takes a fixed
latency (COBRIDGE_BENCH_B7_LATENCY_MS, default 100 ms). With a global limit
of G (COBRIDGE_BENCH_B7_CONCURRENCY, default 12) the bound is G / latency
actions per second; the relay's figure is printed beside it.

Baselines in the same run (COBRIDGE_BENCH_B7_SAMPLE calls each, default
600): the WinRM adapter alone, the same number of
threads calling it back to back with the same latency and no relay; and the
relay with no latency at all, which is what the relay, pywinrm and the mock
cost in CPU on this machine (the ceiling no concurrency limit can lift).
Each run checks that every action succeeded and was reported once, and that
no device ran two actions at once and never more than G ran in all.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.measure import measure, report

DEVICES = 2000
QUICK, LARGE = 10_000, 50_000
USER, PASSWORD = "svc-cobridge", "Bench-Pa55-b7"


def _env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _host(n: int) -> str:
    return f"pc{n % DEVICES:05d}.corp.example.com"


def relay_actions(data_dir: str, count: int, latency: float, concurrency: int) -> int:
    """The product path: `count` actions through the relay; how many succeeded."""
    from bridge.actions import ActionRelay, ClaimedAction, RelayOptions
    from bridge.state import ConnectorState
    from tests.support.action_relay_rig import MemorySource, smsid, winrm_client
    from tests.support.winrm_responder import WinRMResponder

    expires = datetime.now(UTC) + timedelta(hours=2)
    hosts = [_host(n) for n in range(DEVICES)]
    actions = (
        ClaimedAction(
            f"b7-{n:07d}",
            "trigger_schedule",
            smsid(hosts[n % DEVICES]),
            hosts[n % DEVICES],
            expires,
            schedule_id="021",
        )
        for n in range(count)
    )
    options = RelayOptions(
        device_concurrency=1, global_concurrency=concurrency, poll_wait_seconds=0
    )
    with (
        ConnectorState.open(None, data_dir=Path(data_dir)) as state,
        WinRMResponder(credentials=(USER, PASSWORD), latency=latency, keep_calls=False) as fleet,
    ):
        source = MemorySource(actions)
        relay = ActionRelay(source, winrm_client(username=USER, password=PASSWORD), state, options)
        stats = asyncio.run(relay.run_until_idle())
        reported_once = sum(1 for reports in source.reports.values() if len(reports) == 1)
        if not stats.succeeded == reported_once == count:
            raise AssertionError(f"{stats} but {reported_once} of {count} reported once")
        if fleet.peak_active > concurrency or max(fleet.peak_active_per_host.values()) > 1:
            raise AssertionError(f"limits broken: {fleet.peak_active} at once")
    return stats.succeeded


def raw_client(count: int, latency: float, concurrency: int) -> int:
    """Baseline: the WinRM adapter alone, `concurrency` threads calling it back to back."""
    from tests.support.action_relay_rig import winrm_client
    from tests.support.winrm_responder import WinRMResponder

    client = winrm_client(username=USER, password=PASSWORD)
    with (
        WinRMResponder(credentials=(USER, PASSWORD), latency=latency, keep_calls=False),
        ThreadPoolExecutor(concurrency) as pool,
    ):
        done = pool.map(lambda n: client.trigger_schedule(_host(n), "021"), range(count))
        return sum(1 for outcome in done if outcome.return_value == 0)


def run(*, large: bool, data_dir: str) -> None:
    """Run B7 and print its figures."""
    count = _env("COBRIDGE_BENCH_B7_ACTIONS", LARGE if large else QUICK)
    latency = _env("COBRIDGE_BENCH_B7_LATENCY_MS", 100) / 1000
    concurrency = _env("COBRIDGE_BENCH_B7_CONCURRENCY", 12)
    bound = concurrency / latency
    root = Path(data_dir).resolve() / "b7"
    directories = []
    for name in ("relay", "ceiling"):
        shutil.rmtree(root / name, ignore_errors=True)
        (root / name).mkdir(parents=True)
        directories.append(str(root / name))
    sample = _env("COBRIDGE_BENCH_B7_SAMPLE", 600)
    relay = measure(
        f"relay: {count:,} actions, {concurrency} at once, {latency * 1000:g} ms each",
        relay_actions,
        directories[0],
        count,
        latency,
        concurrency,
    )
    raw = measure(
        f"baseline: WinRM adapter alone, {sample:,} calls, {concurrency} threads",
        raw_client,
        sample,
        latency,
        concurrency,
    )
    ceiling = measure(
        f"baseline: relay without latency, {sample:,} actions (CPU ceiling)",
        relay_actions,
        directories[1],
        sample,
        0.0,
        concurrency,
    )
    report(
        f"B7 action relay ({count:,} client actions on a mocked WinRM fleet)",
        [relay, raw, ceiling],
        [
            f"bound (limit / latency): {bound:,.0f} actions/s; relay {relay.rate:,.0f}/s "
            f"= {relay.rate / bound:.0%} of the bound",
            f"adapter alone {raw.rate:,.0f}/s = {raw.rate / bound:.0%} of the bound; "
            f"relay without latency {ceiling.rate:,.0f}/s (what relay, pywinrm and the mock "
            "cost in CPU here)",
            f"peak RSS of the relay run: {relay.peak_rss_mb:,.0f} MB",
        ],
    )
