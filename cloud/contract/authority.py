"""Co-management authority on the wire: the cloud gate's commands, the arbiter's records.

DESIGN.md section 7. The connector's arbiter sends the cloud side `grant` and
`revoke` commands for (device, workload) records and gets `ack` or `stale`
back, exactly as `workloads.gate.decide` answers them; it also reports its own
view of each record (holder, epoch, phase) so that admins see authority per
device and counts per workload. A device is named by its SMSID within the
connector's hierarchy, as everywhere on the connector API.

Admins read these per device, per workload and as the authority log
(`cloud.contract.authority_views`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from cloud.contract.attach import SMSID
from cloud.contract.naming import CamelModel, CamelResponse
from workloads.catalog import Holder, Workload
from workloads.gate import GateDecision
from workloads.handoff import AuthorityRecord, Phase
from workloads.messages import Ack, Command, Grant, Op, Reply, Revoke, Stale

MAX_COMMANDS = 1000
MAX_STATES = 5000
# Epochs are stored as 64-bit integers.
MAX_EPOCH = 2**63 - 1
CONFLICT = r"^[^\x00-\x1f]{1,500}$"


class AuthorityCommand(CamelModel):
    """A grant or revoke for the cloud side, about one device (SMSID) and workload."""

    op: Op
    smsid: str = Field(pattern=SMSID)
    workload: Workload
    epoch: int = Field(ge=0, le=MAX_EPOCH)

    def message(self) -> Command:
        """The domain command (addressed to the cloud side)."""
        kind = Grant if self.op is Op.GRANT else Revoke
        return kind(side=Holder.CLOUD, device=self.smsid, workload=self.workload, epoch=self.epoch)

    @classmethod
    def of(cls, command: Command) -> AuthorityCommand:
        """The wire form of a domain command (its `device` is the SMSID)."""
        return cls(
            op=command.op, smsid=command.device, workload=command.workload, epoch=command.epoch
        )


class AuthorityCommandBatch(CamelModel):
    """Commands applied in one transaction, in order; answered in the same order."""

    commands: list[AuthorityCommand] = Field(min_length=1, max_length=MAX_COMMANDS)


class AuthorityReply(CamelResponse):
    """The cloud gate's answer to one command.

    `ack`: applied now or already (a duplicate). `stale`: refused, because the
    gate has applied a later command; `seenEpoch`/`seenHolds` say which.
    """

    op: Op
    smsid: str
    workload: Workload
    epoch: int
    result: Literal["ack", "stale"]
    seen_epoch: int | None = None
    seen_holds: bool | None = None

    @classmethod
    def of(cls, decision: GateDecision) -> AuthorityReply:
        """The wire form of a gate decision's reply."""
        reply = decision.reply
        stale = isinstance(reply, Stale)
        return cls(
            op=reply.op,
            smsid=reply.device,
            workload=reply.workload,
            epoch=reply.epoch,
            result="stale" if stale else "ack",
            seen_epoch=reply.seen_epoch if stale else None,
            seen_holds=reply.seen_holds if stale else None,
        )

    def message(self) -> Reply:
        """The domain reply (from the cloud side), for `workloads.handoff.on_reply`."""
        if self.result == "ack":
            return Ack(Holder.CLOUD, self.smsid, self.workload, self.epoch, self.op)
        return Stale(
            side=Holder.CLOUD,
            device=self.smsid,
            workload=self.workload,
            epoch=self.epoch,
            op=self.op,
            seen_epoch=self.seen_epoch if self.seen_epoch is not None else self.epoch,
            seen_holds=bool(self.seen_holds),
        )


class AuthorityReplies(CamelResponse):
    """One reply per command, in the commands' order."""

    replies: list[AuthorityReply]


class AuthorityState(CamelModel):
    """The arbiter's record of one (device, workload), as the connector reports it.

    Shaped like `workloads.handoff.AuthorityRecord` (held: a holder and no
    target; revoking: both; granting: a target and no holder). `desired` is
    the holder the site's settings ask for; `conflict` names drift the arbiter
    observed (a side applying without a grant), None when there is none.
    """

    smsid: str = Field(pattern=SMSID)
    workload: Workload
    holder: Holder | None
    epoch: int = Field(ge=0, le=MAX_EPOCH)
    phase: Phase
    target: Holder | None = None
    desired: Holder
    conflict: str | None = Field(default=None, pattern=CONFLICT)
    updated_at: datetime

    @model_validator(mode="after")
    def _shape(self) -> AuthorityState:
        try:
            self.record()
        except ValidationError as exc:
            # The record's own rule, reported as this model's error.
            raise ValueError(exc.errors(include_url=False)[0]["msg"]) from None
        return self

    def record(self) -> AuthorityRecord:
        """The domain record this state describes (its `device` is the SMSID)."""
        return AuthorityRecord(
            device=self.smsid,
            workload=self.workload,
            holder=self.holder,
            epoch=self.epoch,
            phase=self.phase,
            target=self.target,
        )

    @classmethod
    def of(
        cls,
        record: AuthorityRecord,
        *,
        desired: Holder,
        updated_at: datetime,
        conflict: str | None = None,
    ) -> AuthorityState:
        """The wire form of an arbiter's record (its `device` is the SMSID)."""
        return cls(
            smsid=record.device,
            workload=record.workload,
            holder=record.holder,
            epoch=record.epoch,
            phase=record.phase,
            target=record.target,
            desired=desired,
            conflict=conflict,
            updated_at=updated_at,
        )


class AuthorityReport(CamelModel):
    """Changed records of the arbiter: each replaces the stored one unless it is older.

    Older: a lower epoch, or the same epoch at an earlier phase (revoking,
    then granting, then held: a record never goes back within its epoch).
    """

    records: list[AuthorityState] = Field(min_length=1, max_length=MAX_STATES)


class AuthorityReportAck(CamelResponse):
    """How many reported records were kept, and how many were older than the stored ones."""

    received: int
    applied: int
    ignored: int
