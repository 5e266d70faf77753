"""Directory objects in the connector's quarantine: rejected entries and disputed matches.

Keyed by objectGUID (as the quarantine's name), so an object keeps one row
whatever its name or DN becomes. Disputes are recomputed over every stored
computer at each pass, so their rows are always complete; a rejected entry
is known only when a read sees it, so a delta clears only the rows of
objects it saw valid or gone, and a full pass clears every row it did not
quarantine again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bridge.state.directory import DirectoryComputer, MatchResult
from bridge.state.quarantine import quarantine_key
from bridge.state.store import StateTransaction
from onprem.directory import DirectoryReject

SOURCE = "directory"


@dataclass(frozen=True)
class DirectoryQuarantined:
    """One quarantine row of the directory (`bridge.state.quarantine.Rejected`)."""

    name: str  # the objectGUID (else the DN): the row's key
    reason: str
    column: str
    detail: str
    resource_id: int | None = None
    smsid: str | None = None

    @classmethod
    def reject(cls, reject: DirectoryReject) -> DirectoryQuarantined:
        """An entry that failed validation."""
        key = str(reject.object_guid) if reject.object_guid else reject.dn or "unidentified"
        where = reject.dn or reject.name or "an entry without a DN"
        return cls(key, reject.reason, reject.attribute, f"{where}: {reject.detail}")

    @classmethod
    def dispute(cls, computer: DirectoryComputer, match: MatchResult) -> DirectoryQuarantined:
        """A computer with two or more candidate site records: never linked."""
        detail = (
            f"{computer.dn}: {len(match.candidates)} live site records match, none is linked; "
            f"candidates: {', '.join(match.candidates)}"
        )
        return cls(computer.object_guid, "disputed", "distinguishedName", detail)


def _key(guid: str) -> str:
    return quarantine_key(None, None, guid)


def quarantine_pass(
    tx: StateTransaction,
    *,
    rejects: Iterable[DirectoryReject],
    computers: Iterable[DirectoryComputer],
    matches: Mapping[str, MatchResult],
    seen: Iterable[str],
    full: bool,
    now: datetime,
) -> None:
    """Quarantine this pass's rejects and current disputes; release what is resolved.

    `seen`: GUIDs this pass read valid or found gone. `computers`: every stored
    computer with its match before this pass (so a resolved dispute is released).
    """
    rows = [DirectoryQuarantined.reject(r) for r in rejects]
    was_disputed = set()
    for computer in computers:
        match = matches[computer.object_guid]
        if match.match == "disputed" and computer.deleted_at is None:
            rows.append(DirectoryQuarantined.dispute(computer, match))
        elif computer.match == "disputed":
            was_disputed.add(computer.object_guid)
    tx.quarantine.put(SOURCE, rows, now=now)
    if full:
        tx.quarantine.clear(SOURCE, not_seen_since=now)
        return
    kept = {quarantine_key(None, None, r.name) for r in rows}
    released = {_key(g) for g in (*seen, *was_disputed)} - kept
    tx.quarantine.clear(SOURCE, keys=sorted(released))
