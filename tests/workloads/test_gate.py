"""A side's gate: grants and revokes fenced by (epoch, op), answered as values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workloads.catalog import Holder, Workload
from workloads.errors import MisroutedCommand
from workloads.gate import GateRecord, SideGate, Verdict, decide, initial_gate_record
from workloads.messages import Ack, Grant, Op, Revoke, Stale

CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD
W = Workload.COMPLIANCE


def grant(epoch: int, side: Holder = CLOUD, device: str = "D1") -> Grant:
    return Grant(side=side, device=device, workload=W, epoch=epoch)


def revoke(epoch: int, side: Holder = CLOUD, device: str = "D1") -> Revoke:
    return Revoke(side=side, device=device, workload=W, epoch=epoch)


def test_the_site_holds_everything_and_the_cloud_nothing_before_any_command() -> None:
    assert initial_gate_record(CM) == GateRecord(epoch=0, holds=True)
    assert initial_gate_record(CLOUD) == GateRecord(epoch=0, holds=False)
    assert SideGate(CM).holds("D9", Workload.OFFICE_APPS)
    assert not SideGate(CLOUD).holds("D9", Workload.OFFICE_APPS)
    assert SideGate(CM).grant_epoch("D9", W) == 0
    assert SideGate(CLOUD).grant_epoch("D9", W) is None


def test_a_higher_epoch_is_applied_and_acknowledged() -> None:
    gate = SideGate(CLOUD)
    decision = gate.handle(grant(3))
    assert decision.verdict is Verdict.APPLIED
    assert decision.reply == Ack(CLOUD, "D1", W, 3, Op.GRANT)
    assert gate.holds("D1", W)
    assert gate.grant_epoch("D1", W) == 3
    assert not gate.holds("D2", W)


def test_an_equal_command_is_acknowledged_again_without_change() -> None:
    gate = SideGate(CLOUD)
    gate.handle(grant(3))
    again = gate.handle(grant(3))
    assert again.verdict is Verdict.DUPLICATE
    assert again.reply == Ack(CLOUD, "D1", W, 3, Op.GRANT)
    assert gate.record("D1", W) == GateRecord(3, True)


def test_a_lower_epoch_is_refused_as_stale_and_changes_nothing() -> None:
    gate = SideGate(CLOUD)
    gate.handle(revoke(5))
    late = gate.handle(grant(4))
    assert late.verdict is Verdict.STALE
    assert late.reply == Stale(CLOUD, "D1", W, 4, Op.GRANT, seen_epoch=5, seen_holds=False)
    assert not gate.holds("D1", W)


def test_an_old_revoke_cannot_take_away_a_newer_grant() -> None:
    gate = SideGate(CM)
    gate.handle(grant(4, side=CM))
    assert gate.handle(revoke(2, side=CM)).verdict is Verdict.STALE
    assert gate.holds("D1", W)


def test_at_one_epoch_a_grant_outranks_a_revoke() -> None:
    # A handoff turned back to the side it was revoking: revoke(e) then grant(e).
    gate = SideGate(CM)
    assert gate.handle(revoke(2, side=CM)).verdict is Verdict.APPLIED
    assert gate.handle(grant(2, side=CM)).verdict is Verdict.APPLIED
    assert gate.holds("D1", W)
    # The revoke arriving again afterwards is an old duplicate.
    assert gate.handle(revoke(2, side=CM)).verdict is Verdict.STALE
    assert gate.holds("D1", W)


def test_the_initial_site_grant_at_epoch_0_is_revoked_by_epoch_1() -> None:
    gate = SideGate(CM)
    assert gate.handle(revoke(1, side=CM)).verdict is Verdict.APPLIED
    assert not gate.holds("D1", W)
    assert gate.handle(grant(0, side=CM)).verdict is Verdict.STALE


def test_records_are_per_device_and_workload() -> None:
    gate = SideGate(CLOUD)
    gate.handle(grant(1, device="D1"))
    assert gate.holds("D1", W)
    assert not gate.holds("D2", W)
    assert not gate.holds("D1", Workload.CLIENT_APPS)


def test_a_command_for_the_other_side_is_refused_loudly() -> None:
    with pytest.raises(MisroutedCommand):
        SideGate(CM).handle(grant(1, side=CLOUD))
    with pytest.raises(MisroutedCommand):
        decide(CLOUD, initial_gate_record(CLOUD), grant(-1))


def test_decide_is_pure() -> None:
    before = GateRecord(2, False)
    decision = decide(CLOUD, before, grant(3))
    assert decision.record == GateRecord(3, True)
    assert before == GateRecord(2, False)


commands = st.lists(
    st.tuples(st.sampled_from([Op.GRANT, Op.REVOKE]), st.integers(min_value=0, max_value=6)),
    max_size=30,
)


@given(commands)
def test_the_gate_ends_on_the_highest_token_whatever_the_order(seq: list[tuple[Op, int]]) -> None:
    gate = SideGate(CLOUD)
    for op, epoch in seq:
        gate.handle(grant(epoch) if op is Op.GRANT else revoke(epoch))
    highest = max([(0, 0), *((epoch, op.rank) for op, epoch in seq)])
    assert gate.record("D1", W).token == highest
