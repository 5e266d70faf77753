"""Identity resolution for one sync cycle (DESIGN.md section 5): pure, no I/O, no clock.

Every site record of a cycle lands in exactly one `Situation`, with a stable
`Reason`; known devices that the read shows gone become the cycle's deletes.
Input is the cycle's record keys (`RecordKeys`, built from each `SiteDevice` as
the read streams past, so whole records are never held) and what the tenant
holds (`KnownDevice` per SMSID, from the connector's device state).

Keys and their rank
-------------------
"Names are never a sole key. AADDeviceID, then SMSID, then serial + model."
Names (and the FQDN, which is a name under a domain) are not keys at all: they
are not even carried here. Placeholder serials ("To Be Filled By O.E.M.") are
dropped on the way in, so they can neither match nor conflict. Serial numbers
only count together with the model, and only when both are known.

The situations
--------------
Only *live* records (neither obsolete nor decommissioned) are devices:

- **disputed** when the site itself contradicts the record's identity: another
  live record has the same AADDeviceID (whatever the SMSIDs), or the same
  SMSID, or, for a record the tenant does not yet hold, the same serial +
  model (the typical "re-imaged, both records still live"). A record the
  tenant already holds by SMSID is *not* disputed over serial + model alone:
  its SMSID outranks that key, so an established device is never held back
  because a newcomer reports the same serial. It is disputed over a shared
  AADDeviceID, which outranks the SMSID (and on which the tenant joins
  attached devices to MDM-enrolled ones: uploading both would join two
  devices to one Entra device).
- **linked** when the tenant holds its SMSID: update.
- **unlinked** when the tenant does not hold its SMSID but exactly one held
  device that is no longer live at the site (its record is obsolete or
  decommissioned, or it is absent from a complete read) has its AADDeviceID,
  or, when none does, its serial + model. That device is *superseded*.
- **disputed** again when there are several such candidates, when two records
  claim the same one, or when (on an incomplete read) a candidate is absent
  and so might still be live outside the read (`unverified_candidate`).
- **unmatched** otherwise: create.

A tombstoned SMSID is not held: a device that comes back is matched (and
usually re-created) like any newcomer, and a tombstoned device is never a
predecessor.

Re-imaging: what "link" sends
-----------------------------
The tenant keys a device by SMSID, and a re-imaged machine has a new SMSID,
which is what the client answers to: the new record is never sent under the
old SMSID. "Link" is an atomic replacement: the connector sends the new
record's upsert *and* a tombstone of `Resolution.supersedes` (reason
`SUPERSEDED`) in the same all-or-nothing ingest batch, so the tenant goes from
the old device to the new one and never holds both, nor neither. Superseding
is not a delete: no device disappears, so it does not count against the
delete guard (otherwise a fleet re-imaged over a weekend would trip the guard
and leave duplicates, the anchor product's known failure). A successor that
mapping then quarantines must take its tombstone with it: send neither.

A superseded device is never in `deletes()`. Linking across differing
AADDeviceIDs by serial + model is allowed: a re-image usually re-joins Entra
with a new device id, and the device being replaced is already gone from the
site, so the link can only merge a delete with a create.

Obsolete and decommissioned records
-----------------------------------
They are never uploaded, never conflict with anything (they are the "old" side
of a re-image and must not dispute their live successor), and are evidence
only of their own SMSID's keys: a held device whose record is obsolete is
matched by the keys in that record (fresher than the state's, and carrying
the model the state does not store). Each gets one situation:

- `retired/superseded`: a live successor linked to it this cycle;
- `retired/not_held`: the tenant holds no device for its SMSID;
- `retired/live_twin`: a live record carries the same SMSID;
- `disputed/candidate_in_dispute`: its device is a candidate of an open
  dispute, so it is kept (not deleted) until the dispute is resolved;
- `deleted/obsolete` or `deleted/decommissioned`: the tenant holds it and a
  complete read shows it retired: it is in `deletes()`;
- `retired/incomplete_read`: the same, but deletes wait for a complete read.

Deletes
-------
`deletes()` lists, for a complete read only, every held (not tombstoned)
device that no live record carries, that no record supersedes and that no
open dispute names as a candidate (a device in dispute stays in the tenant
until the dispute is resolved: a dispute never makes a device vanish). An
empty complete read of a non-empty state deletes everything; the delete guard
(elsewhere) decides whether that goes through. An incomplete read deletes
nothing. A read that fails raises out of `resolve()` before anything is
yielded, so it produces nothing at all.

Disputes hold no memory: each cycle decides afresh, so a dispute clears by
itself on the first cycle whose data no longer conflicts.

Use
---
One resolver per cycle: `IdentityResolver(known)`, then
`resolve(keys, complete=...)` yields one `Resolution` per record, sorted by
ResourceID (join them to records by ResourceID); then `deletes()`,
`superseded()`, `disputes()`, `counts()` and `reason_counts()`. Disputed
records go to the quarantine (reason `disputed`, `Resolution.detail`).

Memory
------
`resolve()` consumes its input once, keeping one `RecordKeys` per record
(keys only: no name, no inventory; model strings interned), because a
record's situation can depend on a record that comes after it (a rival with
the same AADDeviceID). Deciding adds indexes over those keys (an int per
unique key, a list only for shared ones) and over the held devices no live
record carries (usually few): about 430 bytes per record at the peak,
SMSID strings aside. Once decided, only each record's ResourceID and SMSID
are kept (plus sparse extras for the few unlinked or disputed records),
about 35 bytes per record beside the SMSID strings; resolutions are built
as they are yielded.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from operator import attrgetter
from typing import NamedTuple, Protocol

from onprem.site_records import SiteDevice
from onprem.site_values import WHITESPACE, identifying_serial

# The tombstone reason of a device replaced by its successor (wire `Tombstone.reason`).
SUPERSEDED = "superseded"

_NIL_GUID = "00000000-0000-0000-0000-000000000000"
# How many candidates and rival records a `Resolution` lists (a quarantine
# detail must fit 4,000 characters; `disputes()` lists every one).
LISTED = 40


class Situation(StrEnum):
    """Where one site record lands this cycle (DESIGN.md section 5, plus `retired`)."""

    LINKED = "linked"  # held by SMSID: update
    UNLINKED = "unlinked"  # one confident predecessor: upsert + tombstone it, one batch
    UNMATCHED = "unmatched"  # no candidate: create
    DISPUTED = "disputed"  # quarantined with candidates; never uploaded, never linked
    DELETED = "deleted"  # retired at the source and held by the tenant: tombstone (guarded)
    RETIRED = "retired"  # obsolete or decommissioned, nothing to send


class Reason(StrEnum):
    """Why a record landed in its situation: stable codes for status, logs and quarantine."""

    SMSID = "smsid"  # linked: the tenant holds this SMSID
    AAD_DEVICE_ID = "aad_device_id"  # unlinked through the AADDeviceID
    SERIAL_MODEL = "serial_model"  # unlinked through serial + model
    NO_CANDIDATE = "no_candidate"  # unmatched
    SHARED_AAD_DEVICE_ID = "shared_aad_device_id"  # another live record has this AADDeviceID
    SHARED_SMSID = "shared_smsid"  # another live record has this SMSID
    SHARED_SERIAL_MODEL = "shared_serial_model"  # another live record has this serial + model
    SEVERAL_CANDIDATES = "several_candidates"  # two or more predecessors match
    CONTESTED_CANDIDATE = "contested_candidate"  # another record claims the same predecessor
    UNVERIFIED_CANDIDATE = "unverified_candidate"  # incomplete read: a candidate may still be live
    CANDIDATE_IN_DISPUTE = "candidate_in_dispute"  # retired record of a device a dispute names
    OBSOLETE = "obsolete"  # deleted: the held device's record is obsolete
    DECOMMISSIONED = "decommissioned"  # deleted: the held device's record is decommissioned
    SUPERSEDED = "superseded"  # retired: a live successor replaces this device
    NOT_HELD = "not_held"  # retired: the tenant holds no device for this SMSID
    LIVE_TWIN = "live_twin"  # retired: a live record carries the same SMSID
    INCOMPLETE_READ = "incomplete_read"  # retired: held, but deletes need a complete read


# Situations whose record the connector uploads.
UPLOADED = frozenset({Situation.LINKED, Situation.UNLINKED, Situation.UNMATCHED})


def _norm_aad(value: str | None) -> str | None:
    # Same canonical form as the reader's: lower case, no braces; nil is none.
    if value is None:
        return None
    text = value.strip(WHITESPACE).strip("{}").lower()
    return text if text and text != _NIL_GUID else None


def _norm_model(value: str | None) -> str | None:
    # Models are compared case- and spacing-insensitively; interned because a
    # fleet has few distinct models and many records.
    if value is None:
        return None
    text = " ".join(value.split()).casefold()
    return sys.intern(text) if text else None


@dataclass(frozen=True, slots=True)
class RecordKeys:
    """The identity keys of one site record, normalised; all the resolver keeps of it.

    `serial` is the identifying serial (placeholders are None, see
    `onprem.site_values.identifying_serial`). The name is deliberately absent:
    names are never evidence.
    """

    smsid: str
    resource_id: int
    aad_device_id: str | None = None
    serial: str | None = None
    model: str | None = None
    obsolete: bool = False
    decommissioned: bool = False

    def __post_init__(self) -> None:
        # Normalised here, whoever builds the keys, so both sides compare alike.
        object.__setattr__(self, "aad_device_id", _norm_aad(self.aad_device_id))
        object.__setattr__(self, "serial", identifying_serial(self.serial))
        object.__setattr__(self, "model", _norm_model(self.model))

    @classmethod
    def of(cls, device: SiteDevice) -> RecordKeys:
        """The keys of a site record (call it as the read streams; drop the record after)."""
        return cls(
            smsid=device.smsid,
            resource_id=device.resource_id,
            aad_device_id=device.aad_device_id,
            serial=device.serial_number,
            model=device.model,
            obsolete=bool(device.obsolete),
            decommissioned=bool(device.decommissioned),
        )

    @property
    def live(self) -> bool:
        """Neither obsolete nor decommissioned: a device, not a leftover."""
        return not self.obsolete and not self.decommissioned

    @property
    def serial_model(self) -> tuple[str, str] | None:
        """The (serial, model) key, or None unless both are known."""
        if self.serial is None or self.model is None:
            return None
        return (self.serial, self.model)


class _StateRow(Protocol):
    # `bridge.state.devices.DeviceState`, without importing the store here.
    aad_device_id: str | None
    serial: str | None
    tombstoned: bool


@dataclass(frozen=True, slots=True)
class KnownDevice:
    """A device the tenant has acknowledged, as the connector's state remembers it.

    `model` is optional because the state does not store it yet: until it
    does, serial + model can only match a held device whose (obsolete) record
    is in the read, which is where re-imaging leaves it.
    """

    aad_device_id: str | None = None
    serial: str | None = None
    model: str | None = None
    tombstoned: bool = False

    def __post_init__(self) -> None:
        # The state stores the serial as displayed (placeholders included).
        object.__setattr__(self, "aad_device_id", _norm_aad(self.aad_device_id))
        object.__setattr__(self, "serial", identifying_serial(self.serial))
        object.__setattr__(self, "model", _norm_model(self.model))

    @classmethod
    def from_state(cls, row: _StateRow, *, model: str | None = None) -> KnownDevice:
        """A known device from a `DeviceState` row (and its model, where known)."""
        return cls(
            aad_device_id=row.aad_device_id,
            serial=row.serial,
            model=model,
            tombstoned=row.tombstoned,
        )


class RecordRef(NamedTuple):
    """A site record named for people: its ResourceID and SMSID."""

    resource_id: int
    smsid: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """The one situation of one site record, with what the connector must do about it."""

    resource_id: int
    smsid: str
    situation: Situation
    reason: Reason
    # unlinked: the held device to tombstone (reason SUPERSEDED) in this record's batch.
    supersedes: str | None = None
    # retired/superseded: the SMSID of the record that replaces this one.
    superseded_by: str | None = None
    # disputed: the held devices (SMSIDs) its disputes name, and the other
    # records in them (ResourceIDs); sorted, the first LISTED of each, with
    # the totals (`disputes()` has every one).
    candidates: tuple[str, ...] = ()
    rivals: tuple[int, ...] = ()
    candidate_count: int = 0
    rival_count: int = 0

    @property
    def upload(self) -> bool:
        """Whether the connector uploads this record (under its own SMSID)."""
        return self.situation in UPLOADED

    @property
    def detail(self) -> str:
        """A one-line explanation for the quarantine row of a disputed record."""
        parts = [self.reason.value]
        if self.candidates:
            parts.append("candidates " + _listed(list(self.candidates), self.candidate_count))
        if self.rivals:
            rivals = [f"ResourceID {r}" for r in self.rivals]
            parts.append("records " + _listed(rivals, self.rival_count))
        return "; ".join(parts)


def _listed(items: list[str], total: int) -> str:
    shown = ", ".join(items)
    return f"{shown} and {total - len(items)} more" if total > len(items) else shown


@dataclass(frozen=True, slots=True)
class Dispute:
    """One conflict: the records held back over one key value, and the held devices involved.

    `key` is `aad_device_id`, `smsid`, `serial_model` (value "SERIAL / model")
    or `claimed_device` (value: the held SMSID two records claim). A record
    may be in several disputes; it is released when it is in none.
    """

    reason: Reason
    key: str
    value: str
    records: tuple[RecordRef, ...]
    candidates: tuple[str, ...]


class _Index:
    """Key -> record positions; an int for a unique key, a list only once it is shared."""

    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map: dict[Hashable, int | list[int]] = {}

    def add(self, key: Hashable, position: int) -> None:
        found = self._map.get(key)
        if found is None:
            self._map[key] = position
        elif isinstance(found, list):
            found.append(position)
        else:
            self._map[key] = [found, position]

    def get(self, key: Hashable) -> list[int]:
        found = self._map.get(key)
        if found is None:
            return []
        return found if isinstance(found, list) else [found]

    def shared(self, key: Hashable) -> bool:
        return isinstance(self._map.get(key), list)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._map


def _sm_text(key: tuple[str, str]) -> str:
    return f"{key[0]} / {key[1]}"


_resource_id = attrgetter("resource_id")

# A dispute's identity: (reason, key, value).
_GroupKey = tuple[Reason, str, str]


@dataclass(slots=True)
class _Group:
    # The records a dispute holds back (positions) and the held devices it names.
    members: tuple[int, ...]
    candidates: frozenset[str]


class IdentityResolver:
    """Resolves one cycle's records against what the tenant holds; one instance per cycle.

    Call `resolve()` once; `deletes()`, `superseded()`, `disputes()` and the
    counts answer for that resolution afterwards. Nothing depends on the
    order of the input.
    """

    def __init__(self, known: Mapping[str, KnownDevice]) -> None:
        self._known = known
        self._resolved = False
        # After resolution only what the output needs is kept: each record's
        # ResourceID and SMSID, by position (sorted by ResourceID).
        self._rids = array("q")
        self._smsids: list[str] = []
        self._situation: list[Situation] = []
        self._reason: list[Reason] = []
        # Sparse, by record position: most records have none of these.
        self._supersedes: dict[int, str] = {}
        self._superseded_by: dict[int, str] = {}
        self._groups_of: dict[int, list[_GroupKey]] = {}
        self._groups: dict[_GroupKey, _Group] = {}
        self._deletes: list[str] = []

    # -- public -------------------------------------------------------------

    def resolve(
        self, keys: Iterable[RecordKeys], *, complete: bool | Callable[[], bool]
    ) -> Iterator[Resolution]:
        """Resolve every record of the cycle; yield one `Resolution` each, by ResourceID.

        `complete` says the read reached its end without an error: a bool, or
        a callable asked once the input is exhausted (such as
        `lambda: read.stats.complete` for an `onprem.site_reader` read). Only
        a complete read shows that a device is gone; on an incomplete one,
        absent held devices are neither deleted nor superseded. The work is
        done before this returns (the input is consumed here, and an error
        raised by it propagates before anything is yielded); the iterator
        only builds the resolutions.

        Raises ValueError if two records have the same ResourceID, and
        RuntimeError if called twice.
        """
        if self._resolved:
            raise RuntimeError("an IdentityResolver resolves one cycle; make a new one")
        records = list(keys)
        # Sorted, so that nothing below (list orders, tie-breaks, output) can
        # depend on the order the read produced. ResourceIDs are unique.
        records.sort(key=_resource_id)
        for before, after in pairwise(records):
            if before.resource_id == after.resource_id:
                raise ValueError(f"ResourceID {after.resource_id} appears twice in one read")
        self._decide(records, complete() if callable(complete) else complete)
        # The keys are no longer needed: keep the two columns the output names.
        self._rids = array("q", (r.resource_id for r in records))
        self._smsids = [r.smsid for r in records]
        self._resolved = True
        return self._resolutions()

    def deletes(self) -> list[str]:
        """The SMSIDs to tombstone through the delete guard, sorted; none unless complete.

        Superseded devices are not among them (see `Resolution.supersedes`).
        """
        self._require_resolved()
        return list(self._deletes)

    def superseded(self) -> dict[str, str]:
        """Successor SMSID -> the held SMSID it supersedes, for every unlinked record."""
        self._require_resolved()
        return {self._smsids[p]: old for p, old in sorted(self._supersedes.items())}

    def disputes(self) -> list[Dispute]:
        """Every open conflict of the cycle, in full, sorted by reason, key and value."""
        self._require_resolved()
        found = []
        for (reason, key, value), group in sorted(self._groups.items()):
            refs = tuple(RecordRef(self._rids[p], self._smsids[p]) for p in group.members)
            found.append(Dispute(reason, key, value, refs, tuple(sorted(group.candidates))))
        return found

    def counts(self) -> dict[str, int]:
        """Records per situation (every situation, zeros included), for `cobridge status`."""
        self._require_resolved()
        tally = Counter(self._situation)
        return {s.value: tally.get(s, 0) for s in Situation}

    def reason_counts(self) -> dict[str, int]:
        """Records per "situation/reason", sorted, for `cobridge status` and logs."""
        self._require_resolved()
        tally = Counter(zip(self._situation, self._reason, strict=True))
        return {f"{s.value}/{r.value}": n for (s, r), n in sorted(tally.items())}

    # -- the work -----------------------------------------------------------

    def _require_resolved(self) -> None:
        if not self._resolved:
            raise RuntimeError("call resolve() first")

    def _decide(self, records: list[RecordKeys], complete: bool) -> None:
        self._situation = [Situation.UNMATCHED] * len(records)
        self._reason = [Reason.NO_CANDIDATE] * len(records)
        known = self._known

        def held(smsid: str) -> bool:
            device = known.get(smsid)
            return device is not None and not device.tombstoned

        live_smsid, live_aad, live_sm, retired_smsid = _Index(), _Index(), _Index(), _Index()
        for p, r in enumerate(records):
            if not r.live:
                retired_smsid.add(r.smsid, p)
                continue
            live_smsid.add(r.smsid, p)
            if r.aad_device_id:
                live_aad.add(r.aad_device_id, p)
            if r.serial_model:
                live_sm.add(r.serial_model, p)

        # The possible predecessors: held devices no live record carries.
        # Matched by the keys of their retired records when the read has
        # them (fresher than the state's, and with the model), else by the
        # state's keys, and then they are "absent".
        pred_aad: dict[str, dict[str, None]] = {}
        pred_sm: dict[tuple[str, str], dict[str, None]] = {}
        absent: set[str] = set()
        for smsid, device in known.items():
            if device.tombstoned or smsid in live_smsid:
                continue
            if smsid in retired_smsid:
                evidence = [
                    (records[p].aad_device_id, records[p].serial_model)
                    for p in retired_smsid.get(smsid)
                ]
            else:
                absent.add(smsid)
                sm = (device.serial, device.model) if device.serial and device.model else None
                evidence = [(device.aad_device_id, sm)]
            for aad, sm in evidence:
                if aad:
                    pred_aad.setdefault(aad, {})[smsid] = None
                if sm:
                    pred_sm.setdefault(sm, {})[smsid] = None

        claims: dict[str, list[int]] = {}
        claimed_by: dict[int, Reason] = {}
        for p, r in enumerate(records):
            if not r.live:
                continue
            is_held = held(r.smsid)
            aad, sm = r.aad_device_id, r.serial_model
            # 1. The site contradicts itself, on a key that outranks what
            #    identifies the record: AADDeviceID always; SMSID always;
            #    serial + model only for a record the tenant does not hold.
            conflicts: list[_GroupKey] = []
            if aad and live_aad.shared(aad):
                gkey = (Reason.SHARED_AAD_DEVICE_ID, "aad_device_id", aad)
                if gkey not in self._groups:
                    sharers = live_aad.get(aad)
                    names = {records[q].smsid for q in sharers if held(records[q].smsid)}
                    self._groups[gkey] = _Group(
                        tuple(sharers), frozenset(names | pred_aad.get(aad, {}).keys())
                    )
                conflicts.append(gkey)
            if live_smsid.shared(r.smsid):
                gkey = (Reason.SHARED_SMSID, "smsid", r.smsid)
                if gkey not in self._groups:
                    names = frozenset({r.smsid} if is_held else ())
                    self._groups[gkey] = _Group(tuple(live_smsid.get(r.smsid)), names)
                conflicts.append(gkey)
            if sm and not is_held and live_sm.shared(sm):
                gkey = (Reason.SHARED_SERIAL_MODEL, "serial_model", _sm_text(sm))
                if gkey not in self._groups:
                    sharers = live_sm.get(sm)
                    # Held sharers are not held back: their SMSID outranks
                    # serial + model. They are candidates of the newcomers.
                    names = {records[q].smsid for q in sharers if held(records[q].smsid)}
                    members = tuple(q for q in sharers if not held(records[q].smsid))
                    self._groups[gkey] = _Group(
                        members, frozenset(names | pred_sm.get(sm, {}).keys())
                    )
                conflicts.append(gkey)
            if conflicts:
                self._set(p, Situation.DISPUTED, conflicts[0][0])
                self._groups_of[p] = conflicts
                continue
            # 2. Held by SMSID.
            if is_held:
                self._set(p, Situation.LINKED, Reason.SMSID)
                continue
            # 3. A predecessor: by AADDeviceID, by serial + model only when
            #    the AADDeviceID finds none.
            via, key, value = Reason.AAD_DEVICE_ID, "aad_device_id", aad or ""
            found = list(pred_aad.get(aad, ())) if aad else []
            if not found and sm:
                via, key, value = Reason.SERIAL_MODEL, "serial_model", _sm_text(sm)
                found = list(pred_sm.get(sm, ()))
            if not found:
                continue  # unmatched: the default
            if not complete and any(c in absent for c in found):
                # Absent from a partial read proves nothing: it may be live.
                self._hold(p, Reason.UNVERIFIED_CANDIDATE, key, value, (p,), found)
            elif len(found) > 1:
                self._hold(p, Reason.SEVERAL_CANDIDATES, key, value, (p,), found)
            else:
                claims.setdefault(found[0], []).append(p)
                claimed_by[p] = via

        # 4. One predecessor, one successor: a device two records claim goes
        #    to neither.
        for old, claimants in claims.items():
            if len(claimants) == 1:
                p = claimants[0]
                self._set(p, Situation.UNLINKED, claimed_by[p])
                self._supersedes[p] = old
                continue
            for p in claimants:
                self._hold(
                    p, Reason.CONTESTED_CANDIDATE, "claimed_device", old, tuple(claimants), [old]
                )

        successor = {old: records[p].smsid for p, old in self._supersedes.items()}
        # Held devices a dispute names are kept until it is resolved.
        named_by: dict[str, list[_GroupKey]] = {}
        for gkey, group in self._groups.items():
            for smsid in group.candidates:
                named_by.setdefault(smsid, []).append(gkey)

        # 5. Retired records: evidence only, never uploaded.
        for p, r in enumerate(records):
            if r.live:
                continue
            if not held(r.smsid):
                self._set(p, Situation.RETIRED, Reason.NOT_HELD)
            elif r.smsid in live_smsid:
                self._set(p, Situation.RETIRED, Reason.LIVE_TWIN)
            elif r.smsid in successor:
                self._set(p, Situation.RETIRED, Reason.SUPERSEDED)
                self._superseded_by[p] = successor[r.smsid]
            elif r.smsid in named_by:
                self._set(p, Situation.DISPUTED, Reason.CANDIDATE_IN_DISPUTE)
                self._groups_of[p] = named_by[r.smsid]
            elif complete:
                why = Reason.DECOMMISSIONED if r.decommissioned else Reason.OBSOLETE
                self._set(p, Situation.DELETED, why)
            else:
                self._set(p, Situation.RETIRED, Reason.INCOMPLETE_READ)

        # 6. Deletes: held devices no live record carries, that nothing
        #    supersedes and no dispute names; only a complete read shows them gone.
        if complete:
            self._deletes = sorted(
                smsid
                for smsid, device in known.items()
                if not device.tombstoned
                and smsid not in live_smsid
                and smsid not in successor
                and smsid not in named_by
            )

    def _set(self, p: int, situation: Situation, reason: Reason) -> None:
        self._situation[p] = situation
        self._reason[p] = reason

    def _hold(
        self,
        p: int,
        reason: Reason,
        key: str,
        value: str,
        members: tuple[int, ...],
        candidates: list[str],
    ) -> None:
        # A dispute found by one record about itself (or by claimants about
        # one device): built once, with every member, whoever finds it first.
        gkey = (reason, key, value)
        if gkey not in self._groups:
            self._groups[gkey] = _Group(members, frozenset(candidates))
        self._set(p, Situation.DISPUTED, reason)
        self._groups_of[p] = [gkey]

    def _listing(self, p: int) -> tuple[tuple[str, ...], tuple[int, ...], int, int]:
        # The candidates and rival records of a disputed record: the first
        # LISTED of each, and the totals.
        groups = [self._groups[g] for g in self._groups_of.get(p, ())]
        if not groups:
            return (), (), 0, 0
        names: set[str] = set().union(*(g.candidates for g in groups))
        others = {q for g in groups for q in g.members if q != p}
        rivals = sorted(self._rids[q] for q in others)
        return tuple(sorted(names)[:LISTED]), tuple(rivals[:LISTED]), len(names), len(rivals)

    def _resolutions(self) -> Iterator[Resolution]:
        for p, (rid, smsid) in enumerate(zip(self._rids, self._smsids, strict=True)):
            candidates, rivals, n_candidates, n_rivals = self._listing(p)
            yield Resolution(
                resource_id=rid,
                smsid=smsid,
                situation=self._situation[p],
                reason=self._reason[p],
                supersedes=self._supersedes.get(p),
                superseded_by=self._superseded_by.get(p),
                candidates=candidates,
                rivals=rivals,
                candidate_count=n_candidates,
                rival_count=n_rivals,
            )
