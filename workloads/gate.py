"""One side's gate: the grants it holds per (device, workload), fenced by epoch.

Both the cloud service (its device check-in returns only the workloads it
holds) and the site store (its policy delivery) keep one `GateRecord` per
(device, workload) and decide commands with `decide`, a pure function; the
stores persist the record it returns. `SideGate` is a tiny in-memory gate built
on it, for tests and the embedded site.

A record is the last command applied: (epoch, holds). Its fencing token is
(epoch, grant-or-revoke) as in `workloads.messages`: a command with a higher
token is applied, an equal one is acknowledged again without change
(idempotent), a lower one is refused as stale.

Before any command, the site holds every workload at epoch 0 and the cloud
holds none: the site holds everything until a device is co-managed, which is
also the arbiter's initial record (`workloads.handoff.initial_record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from workloads.catalog import Holder, Workload
from workloads.errors import MisroutedCommand
from workloads.messages import Ack, Command, Key, Op, Reply, Stale, token


@dataclass(frozen=True, slots=True)
class GateRecord:
    """The last command a side applied for one (device, workload)."""

    epoch: int
    holds: bool

    @property
    def token(self) -> tuple[int, int]:
        """The fencing token of the command this record reflects."""
        return token(self.epoch, Op.GRANT if self.holds else Op.REVOKE)


def initial_gate_record(side: Holder) -> GateRecord:
    """A side's record for a (device, workload) it has never been told about."""
    return GateRecord(epoch=0, holds=Holder(side) is Holder.CONFIGMGR)


class Verdict(StrEnum):
    """What a gate did with a command."""

    APPLIED = "applied"  # a higher token: the record moved to it
    DUPLICATE = "duplicate"  # the same token again: acknowledged, nothing changed
    STALE = "stale"  # a lower token: refused


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The record to keep, the reply to send back, and what happened."""

    record: GateRecord
    reply: Reply
    verdict: Verdict


def decide(side: Holder, record: GateRecord, command: Command) -> GateDecision:
    """Apply `command` to `side`'s `record` with fencing; pure (data in, data out)."""
    side = Holder(side)
    if command.side != side:
        raise MisroutedCommand(
            f"a {command.op} for the {command.side} side reached the {side} side's gate"
        )
    if command.epoch < 0:
        raise MisroutedCommand(f"epoch must not be negative, got {command.epoch}")
    offered = token(command.epoch, command.op)
    if offered < record.token:
        reply: Reply = Stale(
            side=side,
            device=command.device,
            workload=command.workload,
            epoch=command.epoch,
            op=command.op,
            seen_epoch=record.epoch,
            seen_holds=record.holds,
        )
        return GateDecision(record, reply, Verdict.STALE)
    ack = Ack(side, command.device, command.workload, command.epoch, command.op)
    if offered == record.token:
        return GateDecision(record, ack, Verdict.DUPLICATE)
    applied = GateRecord(epoch=command.epoch, holds=command.op is Op.GRANT)
    return GateDecision(applied, ack, Verdict.APPLIED)


class SideGate:
    """An in-memory gate for one side, built on `decide`."""

    def __init__(self, side: Holder) -> None:
        self.side = Holder(side)
        self._records: dict[Key, GateRecord] = {}

    def record(self, device: str, workload: Workload) -> GateRecord:
        """The record for (device, workload), the initial one if never commanded."""
        return self._records.get((device, workload)) or initial_gate_record(self.side)

    def handle(self, command: Command) -> GateDecision:
        """Decide `command` and keep the resulting record."""
        decision = decide(self.side, self.record(command.device, command.workload), command)
        self._records[command.key] = decision.record
        return decision

    def holds(self, device: str, workload: Workload) -> bool:
        """Whether this side may deliver `workload` to `device` now."""
        return self.record(device, workload).holds

    def grant_epoch(self, device: str, workload: Workload) -> int | None:
        """The epoch of the grant this side delivers under, or None when it holds none."""
        record = self.record(device, workload)
        return record.epoch if record.holds else None
