"""The arbiter against two in-memory gates, journaling in a real connector state store.

Break before make at every step: no pass, complete or cut short by an
unreachable side or a crash, ever leaves both gates holding one record; once
both sides answer, every record settles with its desired holder.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.ports import InMemorySide
from bridge.runtime.status import status_report
from bridge.state import ConnectorState
from workloads.catalog import Holder, Workload
from workloads.errors import InvalidTransition
from workloads.handoff import Phase
from workloads.messages import Command, Key, Reply

DEVICES = [f"GUID:{n:08X}-0000-4000-8000-000000000000" for n in range(1, 4)]
MOVED = (Workload.COMPLIANCE, Workload.CLIENT_APPS)


class Clock:
    """A clock that ticks a second per reading."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> datetime:
        return datetime(2026, 11, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=next(self._ticks))


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ConnectorState]:
    """A migrated connector state store (SQLite)."""
    with ConnectorState.open(None, data_dir=tmp_path) as opened:
        yield opened


def sides() -> dict[Holder, InMemorySide]:
    """Fresh gates: the site holds everything at epoch 0, the cloud nothing."""
    return {side: InMemorySide(side) for side in Holder}


def to_cloud(devices: Sequence[str] = DEVICES) -> dict[Key, Holder]:
    """Compliance and client apps of `devices` desired on the cloud."""
    return {(d, w): Holder.CLOUD for d in devices for w in MOVED}


def holders(gates: dict[Holder, InMemorySide], key: Key) -> set[Holder]:
    """The sides whose gate holds `key` now."""
    return {side for side, g in gates.items() if g.gate.holds(*key)}


def assert_never_both(gates: dict[Holder, InMemorySide]) -> None:
    """No record held by both gates."""
    for device in DEVICES:
        for workload in Workload:
            assert len(holders(gates, (device, workload))) <= 1, (device, workload)


@pytest.mark.asyncio
async def test_one_pass_moves_workloads_break_before_make(state: ConnectorState) -> None:
    gates = sides()
    arbiter = Arbiter(state, gates, clock=Clock())
    report = await arbiter.reconcile(to_cloud(), complete=True)
    assert (report.begun, report.settled, report.in_flight) == (6, 6, 0)
    for device in DEVICES:
        for workload in Workload:
            expected = {Holder.CLOUD} if workload in MOVED else {Holder.CONFIGMGR}
            assert holders(gates, (device, workload)) == expected
    entries = state.authority.entries(DEVICES)
    assert {(e.record.holder, e.record.epoch, e.record.phase) for e in entries.values()} == {
        (Holder.CLOUD, 1, Phase.HELD)
    }
    events = [e.event for _, e in reversed(state.authority_events.newest(limit=100))]
    assert events == ["begun"] * 6 + ["revoked"] * 6 + ["held"] * 6
    # Nothing more to do: a second pass changes nothing and sends nothing.
    again = await arbiter.reconcile(to_cloud(), complete=True)
    assert (again.begun, again.sent) == (0, 0)
    # Back to the site when the devices leave the desired set.
    back = await arbiter.reconcile({}, complete=True)
    assert (back.begun, back.settled) == (6, 6)
    assert all(holders(gates, (d, w)) == {Holder.CONFIGMGR} for d in DEVICES for w in MOVED)
    assert_never_both(gates)


@pytest.mark.asyncio
async def test_an_unreachable_cloud_leaves_nobody_holding_until_it_answers(
    state: ConnectorState,
) -> None:
    gates = sides()
    gates[Holder.CLOUD].reachable = False
    arbiter = Arbiter(state, gates, clock=Clock())
    report = await arbiter.reconcile(to_cloud(), complete=True)
    assert Holder.CLOUD in report.unreachable
    assert report.in_flight == 6
    key = (DEVICES[0], Workload.COMPLIANCE)
    assert holders(gates, key) == set(), "revoked at the site, not yet granted: nobody holds"
    assert state.authority.entries([DEVICES[0]])[key].record.phase is Phase.GRANTING
    gates[Holder.CLOUD].reachable = True
    settled = await arbiter.reconcile(to_cloud(), complete=True)
    assert (settled.begun, settled.settled, settled.in_flight) == (0, 6, 0)
    assert holders(gates, key) == {Holder.CLOUD}


@pytest.mark.asyncio
async def test_an_unreachable_site_stalls_in_revoking_and_force_is_audited(
    state: ConnectorState,
) -> None:
    gates = sides()
    gates[Holder.CONFIGMGR].reachable = False
    arbiter = Arbiter(state, gates, clock=Clock())
    for _ in range(2):
        report = await arbiter.reconcile(to_cloud([DEVICES[0]]), complete=True)
        assert report.in_flight == 2
    key = (DEVICES[0], Workload.COMPLIANCE)
    assert holders(gates, key) == {Holder.CONFIGMGR}, "the grant is never sent before the revoke"
    assert state.authority.entries([DEVICES[0]])[key].record.phase is Phase.REVOKING

    forced = await arbiter.force(*key, reason="site server down for rebuild", by="ops-admin")
    assert forced.settled == 1
    # The site never heard the revoke: its gate still holds. The fence keeps
    # resending it; the checker would report this overlap, and force says so.
    assert holders(gates, key) == {Holder.CONFIGMGR, Holder.CLOUD}
    newest = state.authority_events.newest(limit=5, smsid=DEVICES[0])
    forced_event = next(e for _, e in newest if e.event == "forced")
    assert forced_event.detail is not None
    assert forced_event.detail["by"] == "ops-admin"
    assert forced_event.detail["reason"] == "site server down for rebuild"
    entry = state.authority.entries([DEVICES[0]])[key]
    assert entry.record.fence is not None

    gates[Holder.CONFIGMGR].reachable = True
    await arbiter.reconcile(to_cloud([DEVICES[0]]), complete=True)
    assert holders(gates, key) == {Holder.CLOUD}
    assert state.authority.entries([DEVICES[0]])[key].record.fence is None
    with pytest.raises(InvalidTransition):
        await arbiter.force(*key, reason="again", by="ops-admin")


class Crash(BaseException):
    """The process dies (not an error anything catches)."""


class CrashingSide(InMemorySide):
    """A side that applies the commands, then the connector dies before reading the replies."""

    def __init__(self, side: Holder, gate_of: InMemorySide, after: int) -> None:
        super().__init__(side)
        self.gate = gate_of.gate
        self.after = after

    async def send(self, commands: Sequence[Command]) -> list[Reply]:
        """Apply, then crash on the `after`-th call."""
        replies = await super().send(commands)
        self.after -= 1
        if self.after <= 0:
            raise Crash
        return replies


@pytest.mark.asyncio
@pytest.mark.parametrize("crash_side", list(Holder))
async def test_a_crash_after_any_send_resumes_from_the_journal(
    state: ConnectorState, crash_side: Holder
) -> None:
    gates = sides()
    crashing = dict(gates)
    crashing[crash_side] = CrashingSide(crash_side, gates[crash_side], after=1)
    with pytest.raises(Crash):
        await Arbiter(state, crashing, clock=Clock()).reconcile(to_cloud(), complete=True)
    assert_never_both(gates)
    # A new process: the journal says what is awaited, resends it, settles.
    report = await Arbiter(state, gates, clock=Clock()).reconcile(to_cloud(), complete=True)
    assert report.in_flight == 0
    assert all(holders(gates, (d, w)) == {Holder.CLOUD} for d in DEVICES for w in MOVED)
    assert_never_both(gates)


@pytest.mark.asyncio
async def test_changing_the_target_mid_handoff_never_grants_both(state: ConnectorState) -> None:
    gates = sides()
    gates[Holder.CLOUD].reachable = False
    arbiter = Arbiter(state, gates, clock=Clock())
    await arbiter.reconcile(to_cloud(), complete=True)  # revoked at the site, grant waiting
    gates[Holder.CLOUD].reachable = True
    report = await arbiter.reconcile({}, complete=True)  # the admin moved them back
    assert report.in_flight == 0
    assert_never_both(gates)
    assert all(holders(gates, (d, w)) == {Holder.CONFIGMGR} for d in DEVICES for w in MOVED)
    epochs = {e.record.epoch for e in state.authority.entries(DEVICES).values()}
    assert epochs == {2}, "the turned-back handoff is a new epoch: the old grant is stale"


@pytest.mark.asyncio
async def test_status_shows_handoffs_stalled_and_conflicts(
    state: ConnectorState, tmp_path: Path
) -> None:
    gates = sides()
    gates[Holder.CONFIGMGR].reachable = False
    clock = Clock()
    await Arbiter(state, gates, clock=clock).reconcile(to_cloud([DEVICES[0]]), complete=True)
    soon = status_report(state, tmp_path, now=clock(), interval_seconds=60)
    assert (soon.handoffs_in_flight, soon.handoffs_stalled) == (2, 0)
    later = status_report(state, tmp_path, now=clock() + timedelta(minutes=11), interval_seconds=60)
    assert later.handoffs_stalled == 2
    assert any("stalled" in n and "cobridge workloads force" in n for n in later.notices)
    assert later.authority[Workload.COMPLIANCE.value] == {"revoking": 1}

    key = (DEVICES[0], Workload.COMPLIANCE)
    assert state.authority.set_conflicts({key: "drift: test"}, now=clock()) == 1
    assert state.authority.set_conflicts({key: "drift: test"}, now=clock()) == 0, "unchanged"
    conflicted = status_report(state, tmp_path, now=clock(), interval_seconds=60)
    assert conflicted.authority_conflicts == 1
    assert any("conflict" in n for n in conflicted.notices)


@pytest.mark.asyncio
async def test_settled_records_are_not_counted_in_flight(
    state: ConnectorState, tmp_path: Path
) -> None:
    gates = sides()
    await Arbiter(state, gates, clock=Clock()).reconcile(to_cloud(), complete=True)
    assert state.authority.unsettled() == []
    assert (
        status_report(state, tmp_path, now=Clock()(), interval_seconds=60).handoffs_in_flight == 0
    )


@pytest.mark.asyncio
async def test_a_large_switch_goes_a_batch_at_a_time_to_its_end(state: ConnectorState) -> None:
    gates = sides()
    report = await Arbiter(state, gates, clock=Clock(), batch=2).reconcile(
        to_cloud(), complete=True
    )
    assert (report.begun, report.settled) == (6, 6)
    events = [e.event for _, e in reversed(state.authority_events.newest(limit=100))]
    # Each batch of two is revoked, granted and held before the next one begins.
    assert events == ["begun", "begun", "revoked", "revoked", "held", "held"] * 3
