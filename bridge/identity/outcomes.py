"""What identity resolution decides: situations, reasons, resolutions and disputes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

# The tombstone reason of a device replaced by its successor (wire `Tombstone.reason`).
SUPERSEDED = "superseded"

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
