"""The invariant checker: replay what each side did and report every violation.

DESIGN.md section 7: at no instant do both sides hold a grant for one
(device, workload); in steady state exactly one does; a side delivers a
workload's policies to a device only under a grant.

The log holds three kinds of events, each naming side, device, workload,
epoch and time (`at`, passed in: the checker reads no clock):

- `GrantEvent` / `RevokeEvent`: a side's gate applied a grant or revoke (log
  the commands a gate applied, not the duplicates or stale ones it refused);
- `DeliveryEvent`: a side applied the workload's policies to the device, under
  the gate epoch it read (`epoch`), or with `epoch=None` when the delivery was
  observed rather than gated (drift, seen in inventory).

Intervals. A side *holds* a key from an applied grant to the next applied
revoke. A side is *delivering* a key from its first delivery under a grant to
the revoke that ends that grant (its policies are in effect on the device
until then); a delivery without a grant is an interval of one instant.

Violations (`ViolationKind`):
- `both_granted`: both sides hold the key at once (once per overlap);
- `both_delivering`: the delivering intervals of the two sides overlap (once
  per overlap);
- `delivery_without_grant`: a delivery by a side that does not hold the key,
  or under another epoch than the grant it holds (one per delivery);
- `no_holder_in_steady_state`: in steady state (the state after every event
  at or before `steady_from`, and from then on), a key that appears in the log
  is held by nobody (one per gap, with its end if it ended);
- `epoch_regression`: a side applied a command with a lower fencing token than
  one it had already applied (its gate does not fence).

Before its first event every key is held by `initial_holder` at epoch 0 (the
site, as the gates and the arbiter's initial records assume).

Input must be in time order (equal times in log order, which is the order
things happened); an older event raises `EventLogOutOfOrder` rather than
being sorted, so that memory stays bounded by the number of keys: a million
events over a thousand keys keep a thousand small states. Feed events one by
one with `InvariantChecker.feed` to check a log as it grows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from workloads.catalog import Holder, Workload
from workloads.errors import EventLogOutOfOrder
from workloads.messages import Key, Op, token


@dataclass(frozen=True, slots=True)
class GrantEvent:
    """`side`'s gate applied a grant at `epoch`."""

    side: Holder
    device: str
    workload: Workload
    epoch: int
    at: datetime


@dataclass(frozen=True, slots=True)
class RevokeEvent:
    """`side`'s gate applied a revoke at `epoch`."""

    side: Holder
    device: str
    workload: Workload
    epoch: int
    at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """`side` applied the workload's policies to the device (under gate `epoch`, if gated)."""

    side: Holder
    device: str
    workload: Workload
    epoch: int | None
    at: datetime


Event = GrantEvent | RevokeEvent | DeliveryEvent


class ViolationKind(StrEnum):
    """What rule a violation breaks."""

    BOTH_GRANTED = "both_granted"
    BOTH_DELIVERING = "both_delivering"
    DELIVERY_WITHOUT_GRANT = "delivery_without_grant"
    NO_HOLDER_IN_STEADY_STATE = "no_holder_in_steady_state"
    EPOCH_REGRESSION = "epoch_regression"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule for one (device, workload), with the sides and times involved."""

    kind: ViolationKind
    device: str
    workload: Workload
    sides: tuple[Holder, ...]
    at: datetime  # when it started (or happened)
    detail: str
    until: datetime | None = None  # when it ended, for gaps that ended

    def __str__(self) -> str:
        sides = f" ({' and '.join(self.sides)})" if self.sides else ""
        return (
            f"{self.at.isoformat()} {self.kind} {self.device}/{self.workload}{sides}: {self.detail}"
        )


@dataclass(slots=True)
class _Side:
    holds: bool
    token: tuple[int, int]
    granted_at: datetime | None = None
    delivering_since: datetime | None = None

    @property
    def epoch(self) -> int:
        return self.token[0]


@dataclass(slots=True)
class _KeyState:
    sides: dict[Holder, _Side]
    both_granted: bool = False
    both_delivering: bool = False
    gap_since: datetime | None = None

    def holders(self) -> tuple[Holder, ...]:
        return tuple(side for side, state in self.sides.items() if state.holds)


@dataclass
class InvariantChecker:
    """Streaming checker over one log; `feed` events in order, then `finish`."""

    steady_from: datetime | None = None
    initial_holder: Holder | None = Holder.CONFIGMGR
    _keys: dict[Key, _KeyState] = field(default_factory=dict)
    _found: list[Violation] = field(default_factory=list)
    _last_at: datetime | None = None
    _steady: bool = False

    def holders(self, device: str, workload: Workload) -> frozenset[Holder]:
        """The sides holding (device, workload) after the events fed so far."""
        return frozenset(self._key(device, workload).holders())

    def feed(self, event: Event) -> list[Violation]:
        """Replay one event; return the violations it revealed."""
        if self._last_at is not None and event.at < self._last_at:
            raise EventLogOutOfOrder(
                f"event at {event.at.isoformat()} follows one at {self._last_at.isoformat()}",
                hint="sort the log by time (stable, keeping the order of equal times)",
            )
        self._last_at = event.at
        before = len(self._found)
        if self.steady_from is not None and not self._steady and event.at > self.steady_from:
            self._enter_steady_state(self.steady_from)
        state = self._key(event.device, event.workload)
        if isinstance(event, DeliveryEvent):
            self._delivery(state, event)
        else:
            self._command(state, event)
        return self._found[before:]

    def finish(self) -> list[Violation]:
        """Every violation found, in time order, including gaps still open at the end."""
        if self.steady_from is not None and not self._steady:
            self._enter_steady_state(self.steady_from)
        for (device, workload), state in self._keys.items():
            if state.gap_since is not None:
                self._found.append(_gap(device, workload, state.gap_since, None))
                state.gap_since = None
        self._found.sort(key=lambda violation: violation.at)
        return list(self._found)

    def _key(self, device: str, workload: Workload) -> _KeyState:
        state = self._keys.get((device, workload))
        if state is None:
            state = _KeyState(
                sides={
                    side: _Side(
                        holds=side == self.initial_holder,
                        token=token(0, Op.GRANT if side == self.initial_holder else Op.REVOKE),
                    )
                    for side in Holder
                }
            )
            if self._steady and not state.holders():
                state.gap_since = self.steady_from
            self._keys[(device, workload)] = state
        return state

    def _enter_steady_state(self, at: datetime) -> None:
        self._steady = True
        for state in self._keys.values():
            if not state.holders():
                state.gap_since = at

    def _report(
        self, kind: ViolationKind, event: Event, sides: tuple[Holder, ...], detail: str
    ) -> None:
        self._found.append(Violation(kind, event.device, event.workload, sides, event.at, detail))

    def _command(self, state: _KeyState, event: GrantEvent | RevokeEvent) -> None:
        mine, theirs = Holder(event.side), Holder(event.side).other
        side = state.sides[mine]
        op = Op.GRANT if isinstance(event, GrantEvent) else Op.REVOKE
        applied = token(event.epoch, op)
        if applied < side.token:
            self._report(
                ViolationKind.EPOCH_REGRESSION,
                event,
                (mine,),
                f"{mine} applied {op} at epoch {event.epoch} after epoch {side.epoch}",
            )
        side.token = applied
        if op is Op.REVOKE:
            # An overlap ends when one of its intervals ends; a later one is reported anew.
            state.both_granted = state.both_granted and not side.holds
            state.both_delivering = state.both_delivering and side.delivering_since is None
            side.holds = False
            side.granted_at = side.delivering_since = None
            if self._steady and not state.holders() and state.gap_since is None:
                state.gap_since = event.at
            return
        if not side.holds:
            side.holds, side.granted_at = True, event.at
        other = state.sides[theirs]
        if other.holds and not state.both_granted:
            state.both_granted = True
            since = f" since {other.granted_at.isoformat()}" if other.granted_at else ""
            self._report(
                ViolationKind.BOTH_GRANTED,
                event,
                (theirs, mine),
                f"{mine} granted at epoch {event.epoch} while {theirs} holds "
                f"at epoch {other.epoch}{since}",
            )
        if state.gap_since is not None:
            self._found.append(_gap(event.device, event.workload, state.gap_since, event.at))
            state.gap_since = None

    def _delivery(self, state: _KeyState, event: DeliveryEvent) -> None:
        mine, theirs = Holder(event.side), Holder(event.side).other
        side = state.sides[mine]
        if not side.holds:
            self._report(
                ViolationKind.DELIVERY_WITHOUT_GRANT,
                event,
                (mine,),
                f"{mine} delivered without a grant (last command: epoch {side.epoch})",
            )
        elif event.epoch is not None and event.epoch != side.epoch:
            self._report(
                ViolationKind.DELIVERY_WITHOUT_GRANT,
                event,
                (mine,),
                f"{mine} delivered under epoch {event.epoch} but holds epoch {side.epoch}",
            )
        if side.holds and side.delivering_since is None:
            side.delivering_since = event.at
        other = state.sides[theirs]
        if other.delivering_since is not None and not state.both_delivering:
            state.both_delivering = True
            self._report(
                ViolationKind.BOTH_DELIVERING,
                event,
                (theirs, mine),
                f"{mine} delivered while {theirs} has been delivering "
                f"since {other.delivering_since.isoformat()}",
            )


def _gap(device: str, workload: Workload, since: datetime, until: datetime | None) -> Violation:
    ended = f" until {until.isoformat()}" if until else ""
    return Violation(
        ViolationKind.NO_HOLDER_IN_STEADY_STATE,
        device,
        workload,
        (),
        since,
        f"no side held it in steady state from {since.isoformat()}{ended}",
        until,
    )


def check(
    events: Iterable[Event],
    *,
    steady_from: datetime | None = None,
    initial_holder: Holder | None = Holder.CONFIGMGR,
) -> list[Violation]:
    """Every violation in a time-ordered log (see the module docstring for the rules)."""
    checker = InvariantChecker(steady_from=steady_from, initial_holder=initial_holder)
    for event in events:
        checker.feed(event)
    return checker.finish()
