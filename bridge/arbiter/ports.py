"""What the arbiter needs of a side, and what an arbitration pass needs of a rollout.

A side is the site (its gate in the site store, through the site adapter) or
the cloud (the tenant's gate, through the connector API). Both answer every
command with an `Ack` or a `Stale`, in order; a side that cannot be reached
raises `SideUnreachable`, and the handoffs waiting on it stay where they are.

A pass runs with the active rollout's overlay and tells the rollout how the
pass went (`PassRollouts`); the rollout driver (`bridge.rollout.driver`)
implements it, and the runtime wires it in, so the arbiter never imports the
rollout layer above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from bridge.state.ports import WithAuthority, WithAuthorityEvents
from workloads.catalog import Holder
from workloads.errors import CobridgeError
from workloads.gate import SideGate
from workloads.messages import Command, Reply
from workloads.rollout import RolloutOverlay, RolloutState


class SideUnreachable(CobridgeError):
    """A side did not answer: its commands are resent on the next pass."""

    code = "side_unreachable"


class SideChannel(Protocol):
    """One side's gate, as the arbiter reaches it."""

    side: Holder

    async def send(self, commands: Sequence[Command]) -> list[Reply]:
        """Apply `commands` at the side's gate; one reply per command, in order."""
        ...


class JournalTransaction(WithAuthority, WithAuthorityEvents, Protocol):
    """The journal and its event log, inside one transaction."""


class JournalStore(WithAuthority, WithAuthorityEvents, Protocol):
    """The arbiter's journal: each step's records are saved with their events, all or nothing."""

    def transaction(self) -> AbstractContextManager[JournalTransaction]:
        """One transaction: committed on success, rolled back on error."""
        ...


class PassOverlay(Protocol):
    """The rollout a pass runs with, as the pass sees it: only its overlay."""

    @property
    def overlay(self) -> RolloutOverlay:
        """The holders the rollout admits, which the desired holders are computed with."""
        ...


RolloutT = TypeVar("RolloutT", bound=PassOverlay)


class PassRollouts(Protocol[RolloutT]):
    """The rollout's part of a pass: the rollout before, the pass's outcome after."""

    def before_pass(self) -> RolloutT | None:
        """The active rollout for this pass, or None (no overlay then)."""
        ...

    def after_pass(self, used: RolloutT, *, complete: bool) -> RolloutState | None:
        """Tell the rollout the pass ran (`complete`: its read was); its state after, or None."""
        ...


class InMemorySide:
    """A side whose gate is an in-memory `SideGate` (tests, simulations); can be cut off."""

    def __init__(self, side: Holder) -> None:
        self.side = Holder(side)
        self.gate = SideGate(self.side)
        self.reachable = True

    async def send(self, commands: Sequence[Command]) -> list[Reply]:
        """Decide each command at the gate, unless the side is cut off."""
        if not self.reachable:
            raise SideUnreachable(f"the {self.side} side is unreachable")
        return [self.gate.handle(c).reply for c in commands]
