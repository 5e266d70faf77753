"""Planning one cycle: read the site, resolve identities, diff against state, make units.

Synchronous and streaming. `plan_cycle` reads the site once: every record's
keys go to the `IdentityResolver`; a live record whose content hash differs
from the acknowledged one (or every live record, on a full resync) is mapped
to its wire record and spilled; rejects are collected for the quarantine.
Then the resolutions (sorted by ResourceID) are merged with the spill (in
read order, which is ResourceID order) to yield the upload units. Nothing is
sent from here and nothing is written to the state store: the engine does
both, so a failed read leaves no trace but its run record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bridge.identity import (
    SUPERSEDED,
    IdentityResolver,
    KnownDevice,
    RecordKeys,
    Resolution,
    Situation,
)
from bridge.mapping import MappingRejected, collection_records, device_record
from bridge.state import DeviceState
from bridge.sync.batches import Unit, tombstone_json
from bridge.sync.ports import InventorySource
from bridge.sync.spill import SpillFile
from cloud.contract.inventory import CollectionRecord
from onprem.site_records import RejectedRecord, SiteDevice
from onprem.site_statements import ReadScope
from onprem.site_store import SiteIdentity


@dataclass(frozen=True)
class Dispute:
    """A disputed record, in the quarantine's shape (`bridge.state.quarantine.Rejected`)."""

    resource_id: int
    smsid: str
    name: str | None
    detail: str
    reason: str = "disputed"
    column: str = "identity"


@dataclass
class CyclePlan:
    """What one read showed, and what must be sent; iterate `units()` once."""

    identity: SiteIdentity
    complete: bool
    full: bool
    resolver: IdentityResolver
    resolutions: Iterator[Resolution]
    spill: SpillFile
    rejects: list[RejectedRecord]
    collections: list[CollectionRecord]
    unchanged: int = 0
    records: int = 0
    disputes: list[Dispute] = field(default_factory=list)
    # ResourceIDs and SMSIDs of rejected records: still at the site, so never deleted.
    protected_rids: set[int] = field(default_factory=set)
    protected_smsids: set[str] = field(default_factory=set)
    mapping_rejected: set[int] = field(default_factory=set)
    uploads: int = 0
    supersessions: int = 0
    collections_digest: str | None = None

    def close(self) -> None:
        """Delete the spill file."""
        self.spill.close()

    def units(self) -> Iterator[Unit]:
        """The upserts to send (with their supersession tombstones), by ResourceID."""
        spilled = self.spill.records()
        pending = next(spilled, None)
        for resolution in self.resolutions:
            rid = resolution.resource_id
            while pending is not None and pending[0] < rid:
                pending = next(spilled, None)
            if resolution.situation is Situation.DISPUTED:
                self.disputes.append(self._dispute(resolution))
                continue
            if not resolution.upload or pending is None or pending[0] != rid:
                continue  # unchanged, retired, or refused by mapping (with its supersession)
            tombstones: tuple[bytes, ...] = ()
            if resolution.supersedes is not None:
                tombstones = (tombstone_json(resolution.supersedes, SUPERSEDED),)
                self.supersessions += 1
            self.uploads += 1
            yield Unit(upserts=(pending[1],), tombstones=tombstones)

    def _dispute(self, resolution: Resolution) -> Dispute:
        return Dispute(
            resource_id=resolution.resource_id,
            smsid=resolution.smsid,
            # Only keys are kept through resolution (memory): the SMSID and the
            # ResourceIDs in the detail identify the record.
            name=None,
            detail=resolution.detail,
        )

    def deletes(self) -> list[str]:
        """The reconcile's deletes (complete reads only), minus records the read rejected."""
        return [s for s in self.resolver.deletes() if s not in self.protected_smsids]


@dataclass(frozen=True)
class KnownState:
    """What the state holds, loaded once per cycle: hashes of live devices, identity keys."""

    hashes: dict[str, str]
    known: dict[str, KnownDevice]
    resource_ids: dict[str, int]

    @classmethod
    def load(cls, rows: Iterator[DeviceState]) -> KnownState:
        """From `DeviceStates.snapshot()`."""
        hashes: dict[str, str] = {}
        known: dict[str, KnownDevice] = {}
        rids: dict[str, int] = {}
        for row in rows:
            known[row.smsid] = KnownDevice.from_state(row, model=row.model)
            if not row.tombstoned:
                hashes[row.smsid] = row.content_hash
                rids[row.smsid] = row.resource_id
        return cls(hashes, known, rids)


def _canonical_smsid(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().strip("{}").upper()
    return text if text.startswith("GUID:") else None


def plan_cycle(
    reader: InventorySource,
    scope: ReadScope,
    state: KnownState,
    *,
    full: bool,
    spill_dir: Path | None = None,
) -> CyclePlan:
    """Read the site once and resolve the cycle; raises the reader's error if the read fails.

    `full` uploads every live record whatever its hash (a restored site
    database: the acknowledged hashes describe another instance).
    """
    collection_rejects: list[MappingRejected] = []
    collections = collection_records(reader.collections(), collection_rejects)
    read = reader.read(scope)
    spill = SpillFile(spill_dir)
    keys: list[RecordKeys] = []
    rejects = [r.as_rejected_record() for r in collection_rejects]
    plan_unchanged = 0
    mapping_rejected: set[int] = set()
    protected_rids: set[int] = set()
    protected_smsids: set[str] = set()
    hashes = state.hashes
    try:
        for item in read:
            if isinstance(item, RejectedRecord):
                rejects.append(item)
                if item.resource_id is not None:
                    protected_rids.add(item.resource_id)
                smsid = _canonical_smsid(item.smsid)
                if smsid is not None:
                    protected_smsids.add(smsid)
                continue
            device: SiteDevice = item
            keys.append(RecordKeys.of(device))
            if device.obsolete or device.decommissioned:
                continue
            if not full and hashes.get(device.smsid) == device.content_hash:
                plan_unchanged += 1
                continue
            try:
                record = device_record(device)
            except MappingRejected as refused:
                rejects.append(refused.as_rejected_record())
                mapping_rejected.add(device.resource_id)
                continue
            spill.write(device.resource_id, record.model_dump_json(by_alias=True).encode())
    except BaseException:
        spill.close()
        raise
    assert read.stats.identity is not None, "a read that ended has its identity"
    # A held device whose row the reader rejected is still at the site.
    protected_smsids.update(s for s, rid in state.resource_ids.items() if rid in protected_rids)
    resolver = IdentityResolver(state.known)
    try:
        resolutions = resolver.resolve(keys, complete=read.stats.complete)
    except BaseException:
        spill.close()
        raise
    records = len(keys)
    del keys  # the resolver keeps what it needs
    return CyclePlan(
        identity=read.stats.identity,
        complete=read.stats.complete,
        full=full,
        resolver=resolver,
        resolutions=resolutions,
        spill=spill,
        rejects=rejects,
        collections=collections,
        unchanged=plan_unchanged,
        records=records,
        protected_rids=protected_rids,
        protected_smsids=protected_smsids,
        mapping_rejected=mapping_rejected,
    )
