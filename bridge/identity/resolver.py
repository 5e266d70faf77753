"""`IdentityResolver`: one cycle's records against what the tenant holds (see the package)."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter

from bridge.identity.keys import KnownDevice, RecordKeys
from bridge.identity.outcomes import LISTED, Dispute, Reason, RecordRef, Resolution, Situation


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
