"""A second site adapter, in memory: the co-management side and the inventory of a small site.

`MemorySiteAuthority` implements every protocol of `onprem.site_authority`
without a database: the settings as a value, the gate as the pure
`workloads.gate.decide` over a dict of records, the published flags from
the records (`workloads.flags`), and one log of grants, revokes and
deliveries. `MemoryInventory` is an `InventoryReader` over a list of site
records. Together they prove the connector's arbitration works against any
implementation of the ports, not only the embedded site's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from onprem.authority.drift import find_drift
from onprem.site_authority import (
    DEFAULT_DRIFT_GRACE,
    SITE,
    Conflict,
    GateEntry,
    as_utc,
    require_smsid,
)
from onprem.site_reader import ReadStats
from onprem.site_records import RejectedRecord, SiteDevice
from onprem.site_statements import ReadScope
from onprem.site_store import SiteIdentity
from workloads import flags as co_flags
from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.gate import GateRecord, Verdict, decide, initial_gate_record
from workloads.invariant import DeliveryEvent, Event, GrantEvent, RevokeEvent
from workloads.messages import Command, Key, Op, Reply
from workloads.settings import CoManagementSettings


class MemorySiteAuthority:
    """The site's settings, gate, policy delivery, log and drift, held in memory."""

    def __init__(self, settings: CoManagementSettings | None = None) -> None:
        self.settings = settings or CoManagementSettings()
        self.changed_by: str | None = None
        self.reported: dict[str, int] = {}
        self._records: dict[Key, GateEntry] = {}
        self._log: list[Event] = []

    def read_settings(self) -> CoManagementSettings:
        """The settings now."""
        return self.settings

    def write_settings(
        self, settings: CoManagementSettings, *, changed_by: str, now: datetime
    ) -> None:
        """Store `settings`, with who changed them."""
        self.settings, self.changed_by = settings, changed_by

    def apply_commands(self, commands: Sequence[Command], *, now: datetime) -> list[Reply]:
        """Decide every command in order; one reply per command."""
        for command in commands:
            require_smsid(command.device)
        replies = []
        for command in commands:
            key = (command.device, Workload(command.workload))
            decision = decide(SITE, self._record(key), command)
            replies.append(decision.reply)
            if decision.verdict is Verdict.APPLIED:
                self._records[key] = GateEntry(*key, decision.record, as_utc(now))
                kind = GrantEvent if command.op is Op.GRANT else RevokeEvent
                self._log.append(kind(SITE, key[0], key[1], command.epoch, as_utc(now)))
        return replies

    def grants(self, smsids: Sequence[str]) -> dict[Key, GateRecord]:
        """Every workload's record for each device named."""
        return {(s, w): self._record((s, w)) for s in set(smsids) for w in ALL_WORKLOADS}

    def published_flags(self, smsids: Sequence[str]) -> dict[str, int]:
        """The flags published for the named devices the gate ever changed."""
        changed = {key[0] for key in self._records}
        return {
            s: co_flags.encode(w for w in ALL_WORKLOADS if not self._record((s, w)).holds)
            for s in set(smsids) & changed
        }

    def deliver(self, smsid: str, now: datetime) -> dict[Workload, int]:
        """The workloads the site holds for the device, with their epochs; logged."""
        require_smsid(smsid)
        held = {w: r.epoch for w in ALL_WORKLOADS if (r := self._record((smsid, w))).holds}
        self._log.extend(DeliveryEvent(SITE, smsid, w, e, as_utc(now)) for w, e in held.items())
        return held

    def deliveries(self, since: datetime | None = None) -> Iterator[DeliveryEvent]:
        """Logged deliveries at or after `since`."""
        for event in self.events(since):
            if isinstance(event, DeliveryEvent):
                yield event

    def events(self, since: datetime | None = None) -> Iterator[Event]:
        """The log at or after `since`, in order."""
        return iter([e for e in self._log if since is None or e.at >= as_utc(since)])

    def reported_flags(self, smsids: Sequence[str] | None = None) -> dict[str, int]:
        """What each device reports (set by the test, as a device's inventory would)."""
        return {s: f for s, f in self.reported.items() if smsids is None or s in smsids}

    def conflicts(
        self,
        *,
        now: datetime,
        grace: timedelta = DEFAULT_DRIFT_GRACE,
        smsids: Sequence[str] | None = None,
    ) -> list[Conflict]:
        """Every disagreement between reports and the gate older than `grace`."""
        entries = [
            e
            for e in self._records.values()
            if e.record.epoch > 0 and (smsids is None or e.smsid in smsids)
        ]
        devices = sorted({e.smsid for e in entries})
        return find_drift(entries, self.reported_flags(devices), now=now, grace=grace)

    def _record(self, key: Key) -> GateRecord:
        entry = self._records.get(key)
        return entry.record if entry is not None else initial_gate_record(SITE)


def co_managed_device(resource_id: int, **columns: Any) -> SiteDevice:
    """A co-managed device (agent, enrolled, policy present) as the site reader yields it."""
    smsid = f"GUID:{resource_id:08d}-0000-4000-8000-000000000000"
    values = {
        "ResourceID": resource_id,
        "Name0": f"WKS{resource_id:04d}",
        "SMS_Unique_Identifier0": smsid,
        "Client0": 1,
        "MDMEnrolled": 1,
        "ComgmtPolicyPresent": 1,
        "_has_comanagement": resource_id,
        "content_hash": hashlib.sha256(smsid.encode()).hexdigest(),
    }
    return SiteDevice.model_validate(values | columns)


@dataclass
class MemoryRead:
    """One pass over the records, in order; complete once iterated to its end."""

    records: list[SiteDevice | RejectedRecord]
    identity: SiteIdentity
    stats: ReadStats = field(default_factory=ReadStats)

    def __iter__(self) -> Iterator[SiteDevice | RejectedRecord]:
        self.stats.identity = self.identity
        for record in self.records:
            self.stats.rows += 1
            yield record
        self.stats.complete = True


@dataclass
class MemoryInventory:
    """A site's inventory as a list of records (an `InventoryReader`)."""

    records: list[SiteDevice | RejectedRecord]
    identity: SiteIdentity = field(
        default_factory=lambda: SiteIdentity(
            site_code="MEM", site_name="memory", version=None, hierarchy_id=None, instance_id="m1"
        )
    )

    def read(self, scope: ReadScope | None = None) -> MemoryRead:
        """Start a pass over every record."""
        return MemoryRead(list(self.records), self.identity)
