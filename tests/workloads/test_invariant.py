"""The invariant checker on hand-made logs: one per violation kind, and clean ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workloads.catalog import Holder, Workload
from workloads.errors import EventLogOutOfOrder
from workloads.invariant import (
    DeliveryEvent,
    GrantEvent,
    InvariantChecker,
    RevokeEvent,
    ViolationKind,
    check,
)

CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD
W = Workload.COMPLIANCE
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def grant(side: Holder, epoch: int, at: int, device: str = "D1", workload: Workload = W):
    return GrantEvent(side, device, workload, epoch, t(at))


def revoke(side: Holder, epoch: int, at: int, device: str = "D1", workload: Workload = W):
    return RevokeEvent(side, device, workload, epoch, t(at))


def deliver(side: Holder, epoch: int | None, at: int, device: str = "D1", workload: Workload = W):
    return DeliveryEvent(side, device, workload, epoch, t(at))


CLEAN_HANDOFF = [
    deliver(CM, 0, 1),
    revoke(CM, 1, 2),
    grant(CLOUD, 1, 3),
    deliver(CLOUD, 1, 4),
    deliver(CLOUD, 1, 5),
    revoke(CLOUD, 2, 6),
    grant(CM, 2, 7),
    deliver(CM, 2, 8),
]


def test_a_clean_handoff_there_and_back_has_no_violation() -> None:
    assert check(CLEAN_HANDOFF) == []
    assert check(CLEAN_HANDOFF, steady_from=t(7)) == []


def test_an_empty_log_and_site_deliveries_before_any_handoff_are_clean() -> None:
    assert check([]) == []
    assert check([deliver(CM, 0, 1), deliver(CM, 0, 2, device="D2")], steady_from=t(0)) == []


def test_both_granted_is_reported_once_per_overlap_with_both_sides_and_times() -> None:
    log = [
        grant(CLOUD, 1, 3),  # the site was never revoked
        grant(CLOUD, 1, 4),
        revoke(CM, 1, 5),
        revoke(CLOUD, 2, 6),
        grant(CM, 2, 7),
        grant(CLOUD, 3, 8),
    ]
    found = check(log)
    assert [(v.kind, v.sides, v.at) for v in found] == [
        (ViolationKind.BOTH_GRANTED, (CM, CLOUD), t(3)),
        (ViolationKind.BOTH_GRANTED, (CM, CLOUD), t(8)),
    ]
    assert found[0].device == "D1"
    assert found[0].workload is W
    assert "cloud granted at epoch 1 while configmgr holds" in found[0].detail


def test_both_delivering_is_reported_when_delivering_intervals_overlap() -> None:
    log = [
        deliver(CM, 0, 1),
        grant(CLOUD, 1, 2),  # forced: the site never acknowledged a revoke
        deliver(CLOUD, 1, 3),
        deliver(CM, 0, 4),
        deliver(CLOUD, 1, 5),
    ]
    kinds = [(v.kind, v.sides, v.at) for v in check(log)]
    assert (ViolationKind.BOTH_DELIVERING, (CM, CLOUD), t(3)) in kinds
    assert [k for k, _, _ in kinds].count(ViolationKind.BOTH_DELIVERING) == 1
    both = next(v for v in check(log) if v.kind is ViolationKind.BOTH_DELIVERING)
    assert t(1).isoformat() in both.detail


def test_granted_but_silent_side_is_both_granted_but_not_both_delivering() -> None:
    log = [grant(CLOUD, 1, 2), deliver(CLOUD, 1, 3)]
    assert [v.kind for v in check(log)] == [ViolationKind.BOTH_GRANTED]


def test_deliveries_before_a_revoke_and_after_the_next_grant_do_not_overlap() -> None:
    log = [deliver(CM, 0, 1), revoke(CM, 1, 2), grant(CLOUD, 1, 2), deliver(CLOUD, 1, 2)]
    assert check(log) == []


def test_delivery_without_a_grant_is_reported_per_delivery() -> None:
    log = [revoke(CM, 1, 1), deliver(CM, 0, 2), deliver(CM, None, 3), deliver(CLOUD, None, 4)]
    found = check(log)
    assert [(v.kind, v.sides, v.at) for v in found] == [
        (ViolationKind.DELIVERY_WITHOUT_GRANT, (CM,), t(2)),
        (ViolationKind.DELIVERY_WITHOUT_GRANT, (CM,), t(3)),
        (ViolationKind.DELIVERY_WITHOUT_GRANT, (CLOUD,), t(4)),
    ]


def test_delivery_under_an_old_epoch_is_without_a_current_grant() -> None:
    log = [revoke(CM, 1, 1), grant(CM, 2, 2), deliver(CM, 1, 3), deliver(CM, 2, 4)]
    found = check(log)
    assert [(v.kind, v.at) for v in found] == [(ViolationKind.DELIVERY_WITHOUT_GRANT, t(3))]
    assert "epoch 1" in found[0].detail
    assert "epoch 2" in found[0].detail


def test_drift_delivery_during_the_other_sides_delivery_is_both_kinds() -> None:
    log = [revoke(CM, 1, 1), grant(CLOUD, 1, 2), deliver(CLOUD, 1, 3), deliver(CM, None, 4)]
    assert {v.kind for v in check(log)} == {
        ViolationKind.DELIVERY_WITHOUT_GRANT,
        ViolationKind.BOTH_DELIVERING,
    }


def test_no_holder_in_steady_state_names_the_gap_and_its_end() -> None:
    log = [revoke(CM, 1, 1), grant(CLOUD, 1, 9), revoke(CM, 1, 1, device="D2")]
    found = check(sorted(log, key=lambda e: e.at), steady_from=t(5))
    gaps = [(v.kind, v.device, v.at, v.until) for v in found]
    assert gaps == [
        (ViolationKind.NO_HOLDER_IN_STEADY_STATE, "D1", t(5), t(9)),
        (ViolationKind.NO_HOLDER_IN_STEADY_STATE, "D2", t(5), None),
    ]
    assert found[0].sides == ()


def test_a_handoff_in_progress_before_steady_state_is_not_a_gap() -> None:
    log = [revoke(CM, 1, 1), grant(CLOUD, 1, 4)]
    assert check(log, steady_from=t(5)) == []
    assert check(log) == []


def test_a_revoke_inside_steady_state_opens_a_gap_from_its_time() -> None:
    log = [revoke(CM, 1, 7)]
    found = check(log, steady_from=t(5))
    assert [(v.kind, v.at, v.until) for v in found] == [
        (ViolationKind.NO_HOLDER_IN_STEADY_STATE, t(7), None)
    ]


def test_keys_first_seen_in_steady_state_start_with_the_initial_holder() -> None:
    assert check([deliver(CM, 0, 9, device="D7")], steady_from=t(5)) == []
    found = check([deliver(CLOUD, None, 9, device="D7")], steady_from=t(5), initial_holder=None)
    assert {v.kind for v in found} == {
        ViolationKind.DELIVERY_WITHOUT_GRANT,
        ViolationKind.NO_HOLDER_IN_STEADY_STATE,
    }


def test_epoch_regression_at_a_gate_is_reported() -> None:
    log = [revoke(CM, 3, 1), grant(CM, 2, 2)]
    found = check(log)
    assert [(v.kind, v.sides) for v in found] == [(ViolationKind.EPOCH_REGRESSION, (CM,))]
    assert "epoch 2 after epoch 3" in found[0].detail


def test_keys_are_independent() -> None:
    log = [
        revoke(CM, 1, 1, device="D1"),
        grant(CLOUD, 1, 2, device="D2"),  # D2's site still holds: a violation for D2 only
        grant(CLOUD, 1, 3, device="D1", workload=Workload.CLIENT_APPS),
    ]
    found = check(log)
    assert {(v.kind, v.device, v.workload) for v in found} == {
        (ViolationKind.BOTH_GRANTED, "D2", W),
        (ViolationKind.BOTH_GRANTED, "D1", Workload.CLIENT_APPS),
    }


def test_an_out_of_order_log_is_refused() -> None:
    with pytest.raises(EventLogOutOfOrder):
        check([deliver(CM, 0, 5), deliver(CM, 0, 4)])


def test_feeding_one_event_at_a_time_returns_what_each_reveals() -> None:
    checker = InvariantChecker()
    assert checker.feed(deliver(CM, 0, 1)) == []
    assert checker.holders("D1", W) == {CM}
    revealed = checker.feed(grant(CLOUD, 1, 2))
    assert [v.kind for v in revealed] == [ViolationKind.BOTH_GRANTED]
    assert checker.holders("D1", W) == {CM, CLOUD}
    assert [v.kind for v in checker.finish()] == [ViolationKind.BOTH_GRANTED]


def test_a_long_log_keeps_one_small_state_per_key() -> None:
    def events():
        for minute in range(0, 80_000, 4):
            device = f"D{minute // 4 % 50}"
            epoch = minute // 4 + 1
            yield revoke(CM, 2 * epoch - 1, minute, device)
            yield grant(CLOUD, 2 * epoch - 1, minute + 1, device)
            yield revoke(CLOUD, 2 * epoch, minute + 2, device)
            yield grant(CM, 2 * epoch, minute + 3, device)

    checker = InvariantChecker()
    for event in events():
        assert checker.feed(event) == []
    assert len(checker._keys) == 50
    assert checker.finish() == []
