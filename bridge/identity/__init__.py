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

from bridge.identity.keys import KnownDevice, RecordKeys
from bridge.identity.outcomes import (
    LISTED,
    SUPERSEDED,
    UPLOADED,
    Dispute,
    Reason,
    RecordRef,
    Resolution,
    Situation,
)
from bridge.identity.resolver import IdentityResolver

__all__ = [
    "LISTED",
    "SUPERSEDED",
    "UPLOADED",
    "Dispute",
    "IdentityResolver",
    "KnownDevice",
    "Reason",
    "RecordKeys",
    "RecordRef",
    "Resolution",
    "Situation",
]
