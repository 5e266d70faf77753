"""The break-before-make handoff as pure transitions over authority records."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workloads.catalog import Holder, Workload
from workloads.errors import InvalidTransition, MisroutedCommand
from workloads.handoff import (
    AuthorityRecord,
    Phase,
    begin,
    force,
    initial_record,
    journal_behind,
    on_grant_ack,
    on_reply,
    on_revoke_ack,
    resend,
)
from workloads.messages import Ack, Grant, Op, Revoke, Stale

CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD
W = Workload.DEVICE_CONFIGURATION


def ack(side: Holder, epoch: int, op: Op, device: str = "D1") -> Ack:
    return Ack(side=side, device=device, workload=W, epoch=epoch, op=op)


def revoking_to_cloud() -> AuthorityRecord:
    return begin(initial_record("D1", W), CLOUD).record


def granting_cloud() -> AuthorityRecord:
    return on_revoke_ack(revoking_to_cloud(), ack(CM, 1, Op.REVOKE)).record


def held_by_cloud() -> AuthorityRecord:
    return on_grant_ack(granting_cloud(), ack(CLOUD, 1, Op.GRANT)).record


def test_a_new_record_is_held_by_the_site_at_epoch_0() -> None:
    record = initial_record("D1", W)
    assert (record.holder, record.epoch, record.phase, record.target) == (CM, 0, Phase.HELD, None)
    assert resend(record) == ()


def test_begin_bumps_the_epoch_and_revokes_the_holder_first() -> None:
    step = begin(initial_record("D1", W), CLOUD)
    assert step.changed
    assert (step.record.holder, step.record.epoch, step.record.phase, step.record.target) == (
        CM,
        1,
        Phase.REVOKING,
        CLOUD,
    )
    assert step.send == (Revoke(side=CM, device="D1", workload=W, epoch=1),)


def test_begin_towards_the_current_holder_does_nothing() -> None:
    step = begin(initial_record("D1", W), CM)
    assert not step.changed
    assert step.send == ()
    assert step.record == initial_record("D1", W)


def test_the_grant_is_sent_only_after_the_revoke_is_acknowledged() -> None:
    record = revoking_to_cloud()
    assert resend(record) == (Revoke(side=CM, device="D1", workload=W, epoch=1),)
    step = on_revoke_ack(record, ack(CM, 1, Op.REVOKE))
    assert (step.record.holder, step.record.phase, step.record.target) == (
        None,
        Phase.GRANTING,
        CLOUD,
    )
    assert step.send == (Grant(side=CLOUD, device="D1", workload=W, epoch=1),)
    done = on_grant_ack(step.record, ack(CLOUD, 1, Op.GRANT))
    assert (done.record.holder, done.record.phase, done.record.target, done.record.epoch) == (
        CLOUD,
        Phase.HELD,
        None,
        1,
    )
    assert done.send == ()


@pytest.mark.parametrize(
    "reply",
    [
        ack(CM, 0, Op.REVOKE),  # an older epoch
        ack(CLOUD, 1, Op.REVOKE),  # the wrong side
        ack(CM, 2, Op.REVOKE),  # an epoch the record has not reached
    ],
)
def test_a_revoke_ack_that_is_not_the_awaited_one_is_ignored(reply: Ack) -> None:
    record = revoking_to_cloud()
    step = on_revoke_ack(record, reply)
    assert not step.changed
    assert step.record == record
    assert step.send == ()


def test_stale_grant_acks_are_ignored() -> None:
    record = granting_cloud()
    for reply in (ack(CLOUD, 0, Op.GRANT), ack(CM, 1, Op.GRANT)):
        assert on_grant_ack(record, reply).record == record
    held = held_by_cloud()
    later = begin(held, CM).record
    # The grant ack of epoch 1 arriving during the epoch 2 handoff changes nothing.
    assert on_grant_ack(later, ack(CLOUD, 1, Op.GRANT)).record == later


def test_duplicate_acks_are_idempotent() -> None:
    record = granting_cloud()
    again = on_revoke_ack(record, ack(CM, 1, Op.REVOKE))
    assert not again.changed
    assert again.send == ()
    held = held_by_cloud()
    assert on_grant_ack(held, ack(CLOUD, 1, Op.GRANT)).record == held


def test_stale_replies_change_nothing_and_a_later_seen_epoch_flags_a_lost_journal() -> None:
    record = revoking_to_cloud()
    old = Stale(CM, "D1", W, epoch=1, op=Op.REVOKE, seen_epoch=1, seen_holds=False)
    assert on_reply(record, old).record == record
    assert not journal_behind(record, old)
    ahead = Stale(CM, "D1", W, epoch=1, op=Op.REVOKE, seen_epoch=7, seen_holds=True)
    assert journal_behind(record, ahead)


def test_on_reply_routes_acks_by_op() -> None:
    assert on_reply(revoking_to_cloud(), ack(CM, 1, Op.REVOKE)).record.phase is Phase.GRANTING
    assert on_reply(granting_cloud(), ack(CLOUD, 1, Op.GRANT)).record.phase is Phase.HELD


def test_a_reply_for_another_record_or_of_the_wrong_kind_is_a_routing_error() -> None:
    with pytest.raises(MisroutedCommand):
        on_reply(revoking_to_cloud(), ack(CM, 1, Op.REVOKE, device="D2"))
    with pytest.raises(InvalidTransition):
        on_revoke_ack(revoking_to_cloud(), ack(CM, 1, Op.GRANT))
    with pytest.raises(InvalidTransition):
        on_grant_ack(granting_cloud(), ack(CLOUD, 1, Op.REVOKE))


def test_resend_repeats_what_the_record_waits_on() -> None:
    assert resend(revoking_to_cloud()) == (Revoke(CM, "D1", W, 1),)
    assert resend(granting_cloud()) == (Grant(CLOUD, "D1", W, 1),)
    assert resend(held_by_cloud()) == ()
    assert resend(granting_cloud()) == resend(granting_cloud())


def test_retargeting_while_revoking_keeps_waiting_for_the_revoke() -> None:
    record = revoking_to_cloud()
    back = begin(record, CM)
    assert back.changed
    assert back.send == ()
    assert (back.record.phase, back.record.holder, back.record.target, back.record.epoch) == (
        Phase.REVOKING,
        CM,
        CM,
        1,
    )
    assert resend(back.record) == (Revoke(CM, "D1", W, 1),)
    # Only the revoke's acknowledgement lets the grant go, now to the site again.
    step = on_revoke_ack(back.record, ack(CM, 1, Op.REVOKE))
    assert step.send == (Grant(CM, "D1", W, 1),)
    assert on_grant_ack(step.record, ack(CM, 1, Op.GRANT)).record.holder is CM


def test_retargeting_while_granting_revokes_the_side_being_granted_at_a_new_epoch() -> None:
    record = granting_cloud()
    back = begin(record, CM)
    assert (back.record.phase, back.record.holder, back.record.target, back.record.epoch) == (
        Phase.REVOKING,
        CLOUD,
        CM,
        2,
    )
    assert back.send == (Revoke(CLOUD, "D1", W, 2),)
    # The grant ack of the abandoned epoch does not complete anything.
    assert on_grant_ack(back.record, ack(CLOUD, 1, Op.GRANT)).record == back.record
    step = on_revoke_ack(back.record, ack(CLOUD, 2, Op.REVOKE))
    assert step.send == (Grant(CM, "D1", W, 2),)


def test_begin_towards_the_target_in_flight_does_nothing() -> None:
    for record in (revoking_to_cloud(), granting_cloud()):
        step = begin(record, CLOUD)
        assert not step.changed
        assert step.send == ()


def test_force_a_stalled_revoke_grants_the_target_and_keeps_fencing_the_silent_side() -> None:
    record = revoking_to_cloud()
    step = force(record, "site unreachable for 2 days, ticket 4411")
    assert step.changed
    assert (step.record.phase, step.record.holder, step.record.target) == (
        Phase.GRANTING,
        None,
        CLOUD,
    )
    assert step.record.fence is not None
    assert (step.record.fence.side, step.record.fence.epoch) == (CM, 1)
    assert step.forced is not None
    assert (step.forced.side, step.forced.target, step.forced.epoch) == (CM, CLOUD, 1)
    assert step.forced.reason == "site unreachable for 2 days, ticket 4411"
    assert set(step.send) == {Grant(CLOUD, "D1", W, 1), Revoke(CM, "D1", W, 1)}
    # The fence is re-sent with the grant, and still after the grant is acknowledged.
    assert set(resend(step.record)) == set(step.send)
    held = on_grant_ack(step.record, ack(CLOUD, 1, Op.GRANT)).record
    assert held.phase is Phase.HELD
    assert resend(held) == (Revoke(CM, "D1", W, 1),)
    # The silent side's acknowledgement ends the fence.
    fenced = on_revoke_ack(held, ack(CM, 1, Op.REVOKE))
    assert fenced.changed
    assert fenced.record.fence is None
    assert resend(fenced.record) == ()


def test_the_fenced_side_refusing_the_fence_as_stale_ends_the_fence() -> None:
    forced = force(revoking_to_cloud(), "site down").record
    same = Stale(CM, "D1", W, epoch=1, op=Op.REVOKE, seen_epoch=1, seen_holds=False)
    assert on_reply(forced, same).record.fence is not None  # not past the fence: kept
    past = Stale(CM, "D1", W, epoch=1, op=Op.REVOKE, seen_epoch=3, seen_holds=True)
    step = on_reply(forced, past)
    assert step.changed
    assert step.record.fence is None
    assert step.record.phase is Phase.GRANTING
    other_side = Stale(CLOUD, "D1", W, epoch=1, op=Op.REVOKE, seen_epoch=3, seen_holds=True)
    assert on_reply(forced, other_side).record.fence is not None


def test_a_later_grant_to_the_fenced_side_supersedes_its_fence() -> None:
    forced = force(revoking_to_cloud(), "site down").record
    held = on_grant_ack(forced, ack(CLOUD, 1, Op.GRANT)).record
    back = begin(held, CM)
    assert back.record.fence is not None
    step = on_revoke_ack(back.record, ack(CLOUD, 2, Op.REVOKE))
    assert step.send == (Grant(CM, "D1", W, 2),)
    assert step.record.fence is None


def test_forcing_a_record_turned_back_to_its_holder_keeps_an_earlier_fence() -> None:
    # Reached by: a force that fenced the cloud at epoch 2, the site held, then a
    # move to the cloud (epoch 3) turned back to the site while revoking.
    record = AuthorityRecord.model_validate(
        {
            "device": "D1",
            "workload": W,
            "holder": CM,
            "epoch": 3,
            "phase": Phase.REVOKING,
            "target": CM,
            "fence": {"side": CLOUD, "epoch": 2, "reason": "earlier force"},
        }
    )
    step = force(record, "stalled")
    assert step.record.fence is not None
    assert (step.record.fence.side, step.record.fence.epoch) == (CLOUD, 2)
    assert set(resend(step.record)) == {Grant(CM, "D1", W, 3), Revoke(CLOUD, "D1", W, 2)}


def test_only_a_revoking_record_can_be_forced_and_only_with_a_reason() -> None:
    with pytest.raises(InvalidTransition, match="only a revoking handoff"):
        force(granting_cloud(), "why not")
    with pytest.raises(InvalidTransition):
        force(held_by_cloud(), "why not")
    with pytest.raises(InvalidTransition, match="reason"):
        force(revoking_to_cloud(), "  ")


def test_records_of_an_impossible_shape_are_refused() -> None:
    with pytest.raises(ValidationError):
        AuthorityRecord(device="D1", workload=W, holder=None, epoch=1, phase=Phase.HELD)
    with pytest.raises(ValidationError):
        AuthorityRecord(
            device="D1", workload=W, holder=CM, epoch=1, phase=Phase.GRANTING, target=CLOUD
        )
    with pytest.raises(ValidationError):
        AuthorityRecord(device="D1", workload=W, holder=CM, epoch=-1, phase=Phase.HELD)


def test_records_survive_a_json_round_trip_for_the_journal() -> None:
    record = force(revoking_to_cloud(), "site down").record
    assert AuthorityRecord.model_validate_json(record.model_dump_json()) == record
