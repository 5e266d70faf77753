"""What the arbiter needs of a side: send commands, get replies, or learn it is unreachable.

A side is the site (its gate in the site store, through the site adapter) or
the cloud (the tenant's gate, through the connector API). Both answer every
command with an `Ack` or a `Stale`, in order; a side that cannot be reached
raises `SideUnreachable`, and the handoffs waiting on it stay where they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from workloads.catalog import Holder
from workloads.errors import CobridgeError
from workloads.gate import SideGate
from workloads.messages import Command, Reply


class SideUnreachable(CobridgeError):
    """A side did not answer: its commands are resent on the next pass."""

    code = "side_unreachable"


class SideChannel(Protocol):
    """One side's gate, as the arbiter reaches it."""

    side: Holder

    async def send(self, commands: Sequence[Command]) -> list[Reply]:
        """Apply `commands` at the side's gate; one reply per command, in order."""
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
