"""Two writers commanding the same records at once: the gate never lets both win."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from onprem.authority.embedded import EmbeddedSiteAuthority
from workloads.catalog import Holder, Workload
from workloads.gate import GateRecord
from workloads.invariant import GrantEvent
from workloads.messages import Ack, Command, Grant, Op, Revoke, token

SITE = Holder.CONFIGMGR
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
DEVICES = ["GUID:" + str(uuid.UUID(int=n)).upper() for n in (1, 2, 3)]
W = Workload.DEVICE_CONFIGURATION
EPOCHS = 20


@pytest.fixture
def authority(site_engine: sa.Engine) -> EmbeddedSiteAuthority:
    return EmbeddedSiteAuthority(site_engine)


def _race(
    authority: EmbeddedSiteAuthority, plans: Sequence[Sequence[Command]]
) -> list[list[tuple[Command, object]]]:
    """Run each plan in its own thread, one command per call, all starting together."""
    start = threading.Barrier(len(plans))
    results: list[list[tuple[Command, object]]] = [[] for _ in plans]
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            for command in plans[index]:
                [reply] = authority.apply_commands([command], now=NOW)
                results[index].append((command, reply))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    return results


def _applied_in_log_order(authority: EmbeddedSiteAuthority, device: str) -> list[tuple[int, Op]]:
    return [
        (e.epoch, Op.GRANT if isinstance(e, GrantEvent) else Op.REVOKE)
        for e in authority.events()
        if e.device == device and e.workload is W
    ]


def _check_fenced(authority: EmbeddedSiteAuthority) -> None:
    for device in DEVICES:
        applied = _applied_in_log_order(authority, device)
        tokens = [token(epoch, op) for epoch, op in applied]
        # Every command applied once, each outranking the one before: no lower epoch won late.
        assert tokens == sorted(set(tokens)), applied
        assert authority.grants([device])[(device, W)] == GateRecord(EPOCHS, True)


def test_odd_and_even_epochs_from_two_threads(authority: EmbeddedSiteAuthority) -> None:
    odd = [
        Revoke(side=SITE, device=d, workload=W, epoch=e)
        for e in range(1, EPOCHS + 1, 2)
        for d in DEVICES
    ]
    even = [
        Grant(side=SITE, device=d, workload=W, epoch=e)
        for e in range(2, EPOCHS + 1, 2)
        for d in DEVICES
    ]
    results = _race(authority, [odd, even])
    # Each command is sent once, so an acknowledgement is an application.
    for device in DEVICES:
        acks = [c for run in results for c, r in run if c.device == device and isinstance(r, Ack)]
        assert sorted(token(c.epoch, c.op) for c in acks) == sorted(
            token(e, op) for e, op in _applied_in_log_order(authority, device)
        )
    _check_fenced(authority)


def test_two_connectors_sending_the_same_handoffs(authority: EmbeddedSiteAuthority) -> None:
    plan = [
        command
        for e in range(1, EPOCHS + 1)
        for d in DEVICES
        for command in (
            Revoke(side=SITE, device=d, workload=W, epoch=e),
            Grant(side=SITE, device=d, workload=W, epoch=e),
        )
    ]
    _race(authority, [plan, plan])
    for device in DEVICES:
        applied = _applied_in_log_order(authority, device)
        # Each of the 2 x EPOCHS distinct commands applied exactly once between the two.
        assert sorted(applied) == sorted((e, op) for e in range(1, EPOCHS + 1) for op in Op)
    _check_fenced(authority)
