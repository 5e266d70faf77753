"""What the arbiter and the two sides say to each other about one (device, workload).

Commands go from the arbiter to a side: `Revoke` (stop delivering this
workload to this device) and `Grant` (start). Replies come back: `Ack` (the
side has applied the command, or had already) or `Stale` (the side has seen a
later command for this record and refused this one). Every message names its
side, device, workload and epoch, so duplicates and reordering are harmless.

Fencing token: a side orders commands for one record by (epoch, op) with a
revoke before a grant at the same epoch. Within an epoch the arbiter sends at
most one revoke and then at most one grant to a side (the same side only when
a handoff is turned back to its old holder), so a revoke arriving after the
grant of its own epoch is necessarily an old duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from workloads.catalog import Holder, Workload

Key = tuple[str, Workload]  # (device id, workload): one authority record


class Op(StrEnum):
    """What a command asks a side to do."""

    REVOKE = "revoke"
    GRANT = "grant"

    @property
    def rank(self) -> int:
        """Order within one epoch: a revoke comes before a grant."""
        return 0 if self is Op.REVOKE else 1


def token(epoch: int, op: Op) -> tuple[int, int]:
    """The fencing token of a command: commands with a lower token are stale."""
    return (epoch, op.rank)


@dataclass(frozen=True, slots=True)
class Revoke:
    """Tell `side` to stop delivering `workload` to `device` (break)."""

    op: ClassVar[Op] = Op.REVOKE
    side: Holder
    device: str
    workload: Workload
    epoch: int

    @property
    def key(self) -> Key:
        """The record this command is about."""
        return (self.device, self.workload)


@dataclass(frozen=True, slots=True)
class Grant:
    """Tell `side` it may deliver `workload` to `device` (make)."""

    op: ClassVar[Op] = Op.GRANT
    side: Holder
    device: str
    workload: Workload
    epoch: int

    @property
    def key(self) -> Key:
        """The record this command is about."""
        return (self.device, self.workload)


Command = Grant | Revoke


@dataclass(frozen=True, slots=True)
class Ack:
    """`side` has applied (or had already applied) the command `op` at `epoch`."""

    side: Holder
    device: str
    workload: Workload
    epoch: int
    op: Op

    @property
    def key(self) -> Key:
        """The record this reply is about."""
        return (self.device, self.workload)


@dataclass(frozen=True, slots=True)
class Stale:
    """`side` refused `op` at `epoch`: it has seen `seen_epoch` (and holds or not) since."""

    side: Holder
    device: str
    workload: Workload
    epoch: int
    op: Op
    seen_epoch: int
    seen_holds: bool

    @property
    def key(self) -> Key:
        """The record this reply is about."""
        return (self.device, self.workload)


Reply = Ack | Stale
