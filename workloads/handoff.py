"""Authority records and the break-before-make handoff, as pure transitions.

One `AuthorityRecord` per (device, workload) says who holds the workload, at
which epoch, and where a handoff stands (DESIGN.md section 7):

- `held`: `holder` holds at `epoch`; `target` is None.
- `revoking`: `revoke(epoch)` was sent to `holder` (the side that holds or may
  hold); `target` is the side to grant once `holder` acknowledges.
- `granting`: `holder` is None (nobody holds for sure); `grant(epoch)` was sent
  to `target`.

Each step returns a `Transition`: the new record and the commands to send.
The arbiter writes the record to its journal *before* sending the commands;
after a crash it reloads the journal and sends `resend(record)` for every
record (commands are idempotent, so re-sending is always safe). Replies go to
`on_reply`. Nothing here reads a clock or keeps state.

A grant is never sent before the revoke of its epoch is acknowledged, with one
exception an admin must ask for: `force`. Forcing a stalled `revoking` record
assumes the unreachable side has stopped: the record moves to `granting` and
keeps a `PendingFence` naming that side and epoch. The revoke keeps being sent
(`resend` includes it) until the side acknowledges it (or answers that it has
seen a later command) or a later grant to that side supersedes it; the returned
`Forced` event is for the audit log. If the forced side was in fact still
delivering, the invariant checker reports it (both sides granted or
delivering): force makes the risk explicit, never silent.

Changing the target mid-handoff (`begin` on a record that is not `held`):
- while `revoking`, only `target` changes; the revoke in flight must still be
  acknowledged before any grant (even when the new target is the side being
  revoked: its grant at the same epoch then outranks the revoke at its gate);
- while `granting`, the side being granted may already hold, so a new handoff
  starts from it: the epoch is bumped and that side is revoked first (its grant
  still in flight becomes stale at its gate).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workloads.catalog import Holder, Workload
from workloads.errors import InvalidTransition, MisroutedCommand
from workloads.messages import Ack, Command, Grant, Key, Op, Reply, Revoke, Stale, token


class Phase(StrEnum):
    """Where a record's handoff stands."""

    HELD = "held"
    REVOKING = "revoking"
    GRANTING = "granting"


class PendingFence(BaseModel):
    """A revoke a force went past: `side` has not acknowledged `revoke(epoch)` yet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    side: Holder
    epoch: int = Field(ge=1)
    reason: str = Field(min_length=1)


class AuthorityRecord(BaseModel):
    """Who holds one workload for one device, at which epoch, and any handoff in flight."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str = Field(min_length=1)
    workload: Workload
    holder: Holder | None
    epoch: int = Field(ge=0)
    phase: Phase
    target: Holder | None = None
    fence: PendingFence | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.phase is Phase.HELD and (self.holder is None or self.target is not None):
            raise ValueError("a held record has a holder and no target")
        if self.phase is Phase.REVOKING and (self.holder is None or self.target is None):
            raise ValueError("a revoking record names the side revoked and the target")
        if self.phase is Phase.GRANTING and (self.holder is not None or self.target is None):
            raise ValueError("a granting record has no holder and a target")
        if self.fence is not None and self.fence.epoch > self.epoch:
            raise ValueError("a pending fence cannot be later than the record's epoch")
        return self

    @property
    def key(self) -> Key:
        """(device, workload)."""
        return (self.device, self.workload)

    @property
    def destination(self) -> Holder:
        """The side this record ends up with: the target in flight, else the holder."""
        destination = self.target or self.holder
        assert destination is not None  # guaranteed by _shape
        return destination


@dataclass(frozen=True, slots=True)
class Forced:
    """Audit event: a stalled revoke was forced past, for `reason`."""

    device: str
    workload: Workload
    side: Holder  # the side whose revoke was assumed
    epoch: int
    target: Holder
    reason: str


@dataclass(frozen=True, slots=True)
class Transition:
    """A step's outcome: the record to journal, the commands to send after it."""

    record: AuthorityRecord
    send: tuple[Command, ...] = ()
    changed: bool = False
    forced: Forced | None = None


def initial_record(device: str, workload: Workload) -> AuthorityRecord:
    """The record of a (device, workload) never handed off: the site holds it at epoch 0."""
    return AuthorityRecord(
        device=device, workload=workload, holder=Holder.CONFIGMGR, epoch=0, phase=Phase.HELD
    )


def _revoke(record: AuthorityRecord, side: Holder, epoch: int) -> Revoke:
    return Revoke(side=side, device=record.device, workload=record.workload, epoch=epoch)


def _grant(record: AuthorityRecord, side: Holder, epoch: int) -> Grant:
    return Grant(side=side, device=record.device, workload=record.workload, epoch=epoch)


def _with(record: AuthorityRecord, **changes: object) -> AuthorityRecord:
    # Re-validated, so that no transition can produce a record of the wrong shape.
    return AuthorityRecord.model_validate({**dict(record), **changes})


def _fence_after_grant(fence: PendingFence | None, granted: Holder) -> PendingFence | None:
    # A grant to the fenced side outranks its pending revoke at that side's gate.
    return None if fence is not None and fence.side == granted else fence


def _changed(new: AuthorityRecord, *send: Command, forced: Forced | None = None) -> Transition:
    return Transition(record=new, send=send, changed=True, forced=forced)


def begin(record: AuthorityRecord, target: Holder) -> Transition:
    """Head the record to `target`: start a handoff, re-target one in flight, or nothing."""
    target = Holder(target)
    if record.destination == target:
        return Transition(record)
    if record.phase is Phase.REVOKING:
        return _changed(_with(record, target=target))
    # From held, the holder is revoked; from granting, the side being granted may
    # already hold, so it is the one revoked.
    revoked = record.holder if record.phase is Phase.HELD else record.target
    assert revoked is not None  # guaranteed by AuthorityRecord._shape
    epoch = record.epoch + 1
    new = AuthorityRecord(
        device=record.device,
        workload=record.workload,
        holder=revoked,
        epoch=epoch,
        phase=Phase.REVOKING,
        target=target,
        fence=record.fence,
    )
    return _changed(new, _revoke(record, revoked, epoch))


def _check_key(record: AuthorityRecord, reply: Reply) -> None:
    if reply.key != record.key:
        raise MisroutedCommand(
            f"a reply about {reply.device}/{reply.workload} reached the record of "
            f"{record.device}/{record.workload}"
        )


def on_revoke_ack(record: AuthorityRecord, ack: Ack) -> Transition:
    """A side acknowledged a revoke: grant the target if it is the one awaited; else nothing."""
    _check_key(record, ack)
    if ack.op != Op.REVOKE:
        raise InvalidTransition(f"on_revoke_ack was given a {ack.op} acknowledgement")
    fence = record.fence
    if fence is not None and ack.side == fence.side and ack.epoch >= fence.epoch:
        fence = None
    awaited = (
        record.phase is Phase.REVOKING and ack.epoch == record.epoch and ack.side == record.holder
    )
    if not awaited:
        if fence is record.fence:
            return Transition(record)
        return _changed(_with(record, fence=fence))
    target = record.destination
    new = _with(record, holder=None, phase=Phase.GRANTING, fence=_fence_after_grant(fence, target))
    return _changed(new, _grant(record, target, record.epoch))


def on_grant_ack(record: AuthorityRecord, ack: Ack) -> Transition:
    """The target acknowledged the grant awaited: the record is held; else nothing."""
    _check_key(record, ack)
    if ack.op != Op.GRANT:
        raise InvalidTransition(f"on_grant_ack was given a {ack.op} acknowledgement")
    awaited = (
        record.phase is Phase.GRANTING and ack.epoch == record.epoch and ack.side == record.target
    )
    if not awaited:
        return Transition(record)
    new = _with(record, holder=record.target, phase=Phase.HELD, target=None)
    return _changed(new)


def on_reply(record: AuthorityRecord, reply: Reply) -> Transition:
    """Route any reply: acknowledgements advance the record, stale refusals change nothing.

    A stale refusal only ever answers an old duplicate, unless the journal lost
    writes and a side has seen a later epoch than the record (`journal_behind`).
    One exception: the fenced side refusing the fence's revoke has moved past
    that epoch, so the fence has done its work and is dropped.
    """
    _check_key(record, reply)
    if isinstance(reply, Stale):
        fence = record.fence
        if (
            fence is not None
            and reply.side == fence.side
            and token(reply.seen_epoch, Op.GRANT if reply.seen_holds else Op.REVOKE)
            > token(fence.epoch, Op.REVOKE)
        ):
            return _changed(_with(record, fence=None))
        return Transition(record)
    if reply.op == Op.REVOKE:
        return on_revoke_ack(record, reply)
    return on_grant_ack(record, reply)


def journal_behind(record: AuthorityRecord, stale: Stale) -> bool:
    """Whether a side has seen a later epoch than the record: the journal lost writes."""
    return stale.seen_epoch > record.epoch


def resend(record: AuthorityRecord) -> tuple[Command, ...]:
    """Every command the record still waits on (after a restart or a timeout); idempotent."""
    send: list[Command] = []
    if record.phase is Phase.REVOKING:
        assert record.holder is not None  # guaranteed by AuthorityRecord._shape
        send.append(_revoke(record, record.holder, record.epoch))
    elif record.phase is Phase.GRANTING:
        send.append(_grant(record, record.destination, record.epoch))
    if record.fence is not None:
        send.append(_revoke(record, record.fence.side, record.fence.epoch))
    return tuple(send)


def force(record: AuthorityRecord, reason: str) -> Transition:
    """End a stalled revoke: assume the revoked side stopped, grant the target, keep fencing.

    Only a `revoking` record can be forced. The result is `granting`, with a
    `PendingFence` on the revoked side (unless the target is that same side,
    whose grant then outranks its revoke anyway), and a `Forced` audit event.
    """
    if record.phase is not Phase.REVOKING:
        raise InvalidTransition(
            f"only a revoking handoff can be forced; {record.device}/{record.workload} "
            f"is {record.phase}",
            hint="a granting handoff can be turned back with a new target instead",
        )
    if not reason.strip():
        raise InvalidTransition("forcing a handoff needs a reason for the audit log")
    revoked, target = record.holder, record.destination
    assert revoked is not None  # guaranteed by AuthorityRecord._shape
    fence = _fence_after_grant(record.fence, target)
    if revoked != target:
        # This fence outranks any earlier one: that one was on `revoked` too
        # (a later revoke supersedes it) or on `target` (cleared by the grant).
        fence = PendingFence(side=revoked, epoch=record.epoch, reason=reason.strip())
    new = _with(record, holder=None, phase=Phase.GRANTING, fence=fence)
    forced = Forced(
        device=record.device,
        workload=record.workload,
        side=revoked,
        epoch=record.epoch,
        target=target,
        reason=reason.strip(),
    )
    send: list[Command] = [_grant(record, target, record.epoch)]
    if fence is not None:
        send.append(_revoke(record, fence.side, fence.epoch))
    return _changed(new, *send, forced=forced)
