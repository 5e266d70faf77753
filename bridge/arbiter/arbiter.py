"""One arbiter pass: start the handoffs the desired holders call for, and drive every
handoff in flight as far as the sides' answers allow.

Order of every step (the guarantee of DESIGN.md section 7 rests on it): the
new record is journaled, then its commands are sent. A crash between the two
leaves a journaled record whose commands `resend` produces on the next pass;
a crash after sending leaves commands the sides have applied or will refuse
as duplicates. A grant is only ever produced by the pure transition that
consumed the revoke's acknowledgement, so it cannot be sent before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bridge.arbiter.journal_force import force_in_journal
from bridge.arbiter.ports import JournalStore, SideChannel, SideUnreachable
from bridge.state.authority import AuthorityEvent, JournalEntry
from workloads.catalog import Holder, Workload
from workloads.handoff import (
    AuthorityRecord,
    Phase,
    Transition,
    begin,
    initial_record,
    journal_behind,
    on_reply,
    resend,
)
from workloads.messages import Command, Key, Reply, Stale

log = logging.getLogger("cobridge.arbiter")

BATCH = 1000  # commands per call to a side
ROUNDS = 4  # revoke, its ack, grant, its ack: a handoff settles in two rounds


@dataclass
class PassReport:
    """What one pass did."""

    begun: int = 0
    settled: int = 0
    stale: int = 0
    sent: int = 0
    unreachable: set[Holder] = field(default_factory=set)
    in_flight: int = 0
    conflicts: int = 0

    def as_counts(self) -> dict[str, int]:
        """The figures, for logs and the cycle report."""
        return {
            "begun": self.begun,
            "settled": self.settled,
            "stale": self.stale,
            "sent": self.sent,
            "in_flight": self.in_flight,
            "conflicts": self.conflicts,
        }


def _event(old: AuthorityRecord, new: AuthorityRecord) -> str:
    if new.phase is Phase.HELD:
        return "held"
    if new.phase is Phase.GRANTING and old.phase is Phase.REVOKING:
        return "revoked"
    if new.epoch > old.epoch:
        return "begun"
    if new.target != old.target:
        return "retargeted"
    return "fenced"


class Arbiter:
    """Drives authority records with the pure handoff, journaled, against two sides."""

    def __init__(
        self,
        state: JournalStore,
        sides: Mapping[Holder, SideChannel],
        *,
        clock: Callable[[], datetime],
        batch: int = BATCH,
    ) -> None:
        self._state = state
        self._sides = dict(sides)
        self._clock = clock
        self._batch = batch

    async def reconcile(self, desired: Mapping[Key, Holder], *, complete: bool) -> PassReport:
        """Head every record to its desired holder and drive what is in flight.

        `desired` maps (smsid, workload) to a holder. With `complete`, it
        covers the whole fleet, and a journaled record missing from it is
        headed back to the site (the device is no longer co-managed or left).
        """
        report = PassReport()
        journal = self._state.authority
        unsettled = {e.record.key: e for e in journal.unsettled()}
        entries = journal.entries(sorted({smsid for smsid, _ in desired}))
        if complete:
            entries.update(self._all_journaled())
        entries.update(unsettled)
        records: dict[Key, AuthorityRecord] = {k: e.record for k, e in entries.items()}
        conflicts = {k: e.conflict for k, e in entries.items()}
        wanted = dict(desired)
        if complete:
            for key in records:
                wanted.setdefault(key, Holder.CONFIGMGR)
        steps: list[tuple[AuthorityRecord, Transition]] = []
        resends: list[Command] = []
        for key, holder in sorted(wanted.items()):
            record = records.get(key) or initial_record(*key)
            step = begin(record, holder)
            if step.changed:
                steps.append((record, step))
                report.begun += step.record.epoch > record.epoch
            elif key in unsettled:
                resends.extend(resend(record))
        for key, entry in unsettled.items():
            if key not in wanted:
                resends.extend(resend(entry.record))
        await self._drive(resends, records, conflicts, report)
        # A batch of handoffs at a time, each driven to its end before the next
        # begins: a record is without a holder for one batch's round trips, not
        # for as long as every revoke of a large switch takes.
        for start in range(0, len(steps), self._batch):
            batch = steps[start : start + self._batch]
            self._journal(batch, conflicts)
            for _, step in batch:
                records[step.record.key] = step.record
            await self._drive(
                [c for _, step in batch for c in step.send], records, conflicts, report
            )
        report.in_flight = sum(
            1 for r in records.values() if r.phase is not Phase.HELD or r.fence is not None
        )
        return report

    async def force(self, smsid: str, workload: Workload, *, reason: str, by: str) -> PassReport:
        """Force a stalled revoke past (audited), then drive the record as far as it goes."""
        forced = force_in_journal(
            self._state, smsid, workload, reason=reason, by=by, now=self._clock()
        )
        log.warning(
            "handoff forced by %s: %s/%s, revoke of the %s side assumed at epoch %d: %s",
            by,
            smsid,
            forced.workload.value,
            forced.side.value,
            forced.epoch,
            forced.reason,
        )
        key = (smsid, forced.workload)
        entry = self._state.authority.entries([smsid])[key]
        report = PassReport()
        await self._drive(
            list(resend(entry.record)), {key: entry.record}, {key: entry.conflict}, report
        )
        return report

    def _all_journaled(self) -> dict[Key, JournalEntry]:
        """Every journaled record: those of the devices handed off at least once."""
        journal = self._state.authority
        return journal.entries(journal.journaled_smsids())

    def _journal(
        self,
        steps: Iterable[tuple[AuthorityRecord, Transition]],
        conflicts: Mapping[Key, str | None],
    ) -> None:
        """Save the steps' records and their events in one transaction, before any send."""
        steps = list(steps)
        if not steps:
            return
        now = self._clock()
        events = [
            AuthorityEvent(
                new.device,
                new.workload,
                _event(old, new),
                new.epoch,
                {
                    "holder": new.holder.value if new.holder else None,
                    "target": new.target.value if new.target else None,
                },
            )
            for old, step in steps
            for new in [step.record]
        ]
        with self._state.transaction() as tx:
            tx.authority.save(((s.record, conflicts.get(s.record.key)) for _, s in steps), now=now)
            tx.authority_events.append(events, now=now)

    async def _drive(
        self,
        commands: list[Command],
        records: dict[Key, AuthorityRecord],
        conflicts: dict[Key, str | None],
        report: PassReport,
    ) -> None:
        """Send, apply replies, journal, send what they produce; a few rounds at most."""
        for _ in range(ROUNDS):
            if not commands:
                return
            replies = await self._send(commands, report)
            commands = []
            steps: list[tuple[AuthorityRecord, Transition]] = []
            behind: list[AuthorityEvent] = []
            for reply in replies:
                record = records.get(reply.key)
                if record is None:
                    continue
                if isinstance(reply, Stale):
                    report.stale += 1
                    if journal_behind(record, reply):
                        conflicts[reply.key] = (
                            f"the {reply.side} side has seen epoch {reply.seen_epoch}, "
                            f"later than the journal's {record.epoch}"
                        )
                        behind.append(
                            AuthorityEvent(
                                record.device,
                                record.workload,
                                "journal_behind",
                                record.epoch,
                                {"side": reply.side.value, "seenEpoch": reply.seen_epoch},
                            )
                        )
                        continue
                # A stale answer may still end a fence (the side has moved past it).
                step = on_reply(record, reply)
                if step.changed:
                    steps.append((record, step))
                    records[reply.key] = step.record
                    report.settled += step.record.phase is Phase.HELD
                    commands.extend(step.send)
            self._journal(steps, conflicts)
            if behind:
                report.conflicts += len(behind)
                self._mark_conflicts(behind, records, conflicts)

    def _mark_conflicts(
        self,
        events: Sequence[AuthorityEvent],
        records: Mapping[Key, AuthorityRecord],
        conflicts: Mapping[Key, str | None],
    ) -> None:
        now = self._clock()
        keys = {(e.smsid, e.workload) for e in events}
        with self._state.transaction() as tx:
            tx.authority.save(((records[k], conflicts.get(k)) for k in keys), now=now)
            tx.authority_events.append(events, now=now)

    async def _send(self, commands: Sequence[Command], report: PassReport) -> list[Reply]:
        """Every command to its side, in batches; an unreachable side's commands wait."""
        replies: list[Reply] = []
        by_side: dict[Holder, list[Command]] = {}
        for command in commands:
            by_side.setdefault(command.side, []).append(command)
        for side, mine in sorted(by_side.items()):
            channel = self._sides[side]
            for start in range(0, len(mine), self._batch):
                batch = mine[start : start + self._batch]
                try:
                    answered = await channel.send(batch)
                except SideUnreachable as exc:
                    report.unreachable.add(side)
                    log.warning("%s; %d command(s) wait for it", exc, len(mine) - start)
                    break
                report.sent += len(batch)
                replies.extend(answered)
        return replies
