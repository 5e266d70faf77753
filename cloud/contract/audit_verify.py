"""Walking an audit chain and naming its first problem precisely.

Pure: entries, the recorded signers and what the verifier trusts go in, a
report comes out; the same walk checks the connector's state store, an
export file, and (in the tenant service) what a connector uploaded.
In order of the entries, the first of these is reported:

- edited: an entry's content does not give its hash;
- reordered: an entry's hash matches another position than the one it is
  stored at, and another entry was written at this one;
- missing: a gap in the sequence, an entry renumbered after removals, or a
  previous-hash link that does not hold;
- bad signature / unknown signer: a signature that does not verify, or a
  signer neither the verifier's keys, a trusted certificate, nor a
  `audit.signer-changed` entry of a trusted signer vouches for;
- truncated: the expected head (`expect_head`, anchored earlier) is not in
  the log. The chain alone cannot show that its newest entries were
  removed; an anchored head can.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509

from cloud.contract.audit_chain import (
    GENESIS,
    SIGNER_CHANGED,
    AuditEntry,
    certified_by,
    fingerprint,
    load_public_key,
    signature_valid,
)

# How far past the newest sequence an entry's true position is searched for.
RENUMBER_SEARCH = 10_000


class SignerInfo(Protocol):
    """What verification needs of a recorded signer (`AuditSignerRecord` fits)."""

    @property
    def kind(self) -> str: ...  # noqa: D102
    @property
    def public_key_pem(self) -> str: ...  # noqa: D102
    @property
    def certificate_pem(self) -> str | None: ...  # noqa: D102


@dataclass(frozen=True)
class TrustAnchors:
    """What the verifier trusts: key fingerprints (with why), and CAs whose certificates count."""

    keys: Mapping[str, str] = field(default_factory=dict)
    authorities: Sequence[x509.Certificate] = ()


@dataclass(frozen=True)
class Problem:
    """The first problem found: the entry it concerns, its kind and a sentence for people."""

    seq: int
    kind: str  # edited, reordered, missing, duplicate, bad_signature, unknown_signer, truncated
    message: str


@dataclass(frozen=True)
class SignerSummary:
    """One signer of the log: how many entries it signed and why (or whether) it is trusted."""

    signer: str
    kind: str | None
    entries: int
    trusted_because: str | None


@dataclass(frozen=True)
class VerifyReport:
    """The outcome: ok, or the first problem; the count, the head and the signers either way."""

    count: int
    head_seq: int | None
    head_hash: str | None
    problem: Problem | None
    signers: tuple[SignerSummary, ...]
    anchored_seq: int | None = None

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return {
            "ok": self.ok,
            "entries": self.count,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "anchored_seq": self.anchored_seq,
            "problem": None if self.problem is None else self.problem.__dict__,
            "signers": [s.__dict__ for s in self.signers],
        }

    def describe(self) -> str:
        """One line: ok with the count and head, or the problem."""
        if self.problem is not None:
            return f"TAMPERED: {self.problem.message}"
        if self.head_seq is None:
            return "ok: the audit log is empty"
        return f"ok: {self.count} entries, head entry {self.head_seq} {self.head_hash}"


def _written_at(entry: AuditEntry, highest: int) -> int | None:
    """The sequence `entry` was hashed with, when it is not the one it is stored at."""
    for seq in range(1, highest + RENUMBER_SEARCH):
        if seq != entry.seq and entry.computed_hash(seq=seq) == entry.entry_hash:
            return seq
    return None


def _hash_problem(entries: Sequence[AuditEntry], index: int) -> Problem:
    entry = entries[index]
    seq = entry.seq
    written = _written_at(entry, entries[-1].seq)
    if written is None:
        return Problem(
            seq, "edited", f"entry {seq} was edited: its content does not match its hash"
        )
    displaced = next(
        (
            other
            for other in entries
            if other is not entry and other.computed_hash(seq=seq) == other.entry_hash
        ),
        None,
    )
    if displaced is not None:
        return Problem(
            seq,
            "reordered",
            f"entry {seq} is out of order: the entry stored as {seq} was written as entry "
            f"{written}, and entry {seq} is stored as {displaced.seq}",
        )
    if written > seq:
        return Problem(
            seq,
            "missing",
            f"entry {seq} is missing: entries were removed after {seq - 1} and the later ones "
            f"renumbered (the entry stored as {seq} was written as entry {written})",
        )
    return Problem(seq, "reordered", f"entry {seq} was moved: it was written as entry {written}")


def _structure(entries: Sequence[AuditEntry]) -> tuple[Problem | None, int]:
    """The first structural problem, and how many leading entries are sound."""
    prev_seq, prev_hash = 0, GENESIS
    for index, entry in enumerate(entries):
        if entry.computed_hash() != entry.entry_hash:
            return _hash_problem(entries, index), index
        if entry.seq <= prev_seq:
            return Problem(entry.seq, "duplicate", f"entry {entry.seq} appears twice"), index
        if entry.seq != prev_seq + 1:
            where = "from the start of the log" if prev_seq == 0 else f"after {prev_seq}"
            message = f"entry {prev_seq + 1} is missing: entries were removed {where}"
            return Problem(prev_seq + 1, "missing", message), index
        if entry.prev_hash != prev_hash:
            if prev_seq == 0:
                message = "entry 1 does not start the log: entries were removed from its start"
            else:
                message = (
                    f"entry {entry.seq} does not follow entry {prev_seq}: entry {prev_seq} was "
                    f"replaced, or entries were removed after it"
                )
            return Problem(entry.seq, "missing", message), index
        prev_seq, prev_hash = entry.seq, entry.entry_hash
    return None, len(entries)


def _trusted(
    entries: Sequence[AuditEntry],
    signers: Mapping[str, SignerInfo],
    keys: Mapping[str, Any],
    valid: Mapping[int, bool],
    trust: TrustAnchors,
) -> dict[str, str]:
    """Why each trusted signer is trusted: anchored, certified, or vouched for by an entry."""
    trusted = dict(trust.keys)
    for fp, record in signers.items():
        key = keys.get(fp)
        if fp in trusted or key is None or not record.certificate_pem:
            continue
        authority = certified_by(record.certificate_pem, key, trust.authorities)
        if authority is not None:
            trusted[fp] = f"certified by {authority.subject.rfc4514_string()}"
    changed = True
    while changed:
        changed = False
        for entry in entries:
            previous = entry.details.get("previous")
            if (
                entry.action == SIGNER_CHANGED
                and valid.get(entry.seq)
                and entry.signer in trusted
                and isinstance(previous, str)
                and previous not in trusted
            ):
                trusted[previous] = f"vouched for by entry {entry.seq}, signed by its successor"
                changed = True
    return trusted


def verify_entries(
    entries: Iterable[AuditEntry],
    signers: Mapping[str, SignerInfo],
    trust: TrustAnchors,
    *,
    expect_head: str | None = None,
) -> VerifyReport:
    """Walk the chain in sequence order; the report names the first problem, if any."""
    ordered = sorted(entries, key=lambda e: e.seq)
    problem, sound = _structure(ordered)
    keys = {}
    for fp, record in signers.items():
        key = load_public_key(record.public_key_pem)
        # A recorded key that does not give its fingerprint is not that signer's.
        if key is not None and fingerprint(key) == fp:
            keys[fp] = key
    valid = {
        e.seq: e.signer in keys and signature_valid(keys[e.signer], e.entry_hash, e.signature)
        for e in ordered[:sound]
    }
    trusted = _trusted(ordered[:sound], signers, keys, valid, trust)
    for entry in ordered[:sound]:
        short = entry.signer[:16]
        if entry.signer not in keys:
            message = f"entry {entry.seq} is signed by an unknown signer {short}: its key is not on record"
            problem = Problem(entry.seq, "unknown_signer", message)
        elif not valid[entry.seq]:
            message = (
                f"entry {entry.seq} has a bad signature: it was changed (and re-hashed) after "
                f"signing, or signed by another key than {short}"
            )
            problem = Problem(entry.seq, "bad_signature", message)
        elif entry.signer not in trusted:
            message = (
                f"entry {entry.seq} is signed by an unknown signer {short}: neither this host's "
                "keys, a trusted certificate nor a trusted signer vouches for it"
            )
            problem = Problem(entry.seq, "unknown_signer", message)
        else:
            continue
        break
    head = ordered[-1] if ordered else None
    anchored = None
    if expect_head is not None:
        anchored = next((e.seq for e in ordered if e.entry_hash == expect_head.lower()), None)
        if problem is None and anchored is None:
            last = head.seq if head else 0
            problem = Problem(
                last + 1,
                "truncated",
                f"the expected head {expect_head[:16]} is not in the log: entries were removed "
                f"from its end (it now ends at entry {last})",
            )
    counts: dict[str, int] = {}
    for entry in ordered:
        counts[entry.signer] = counts.get(entry.signer, 0) + 1
    summaries = tuple(
        SignerSummary(fp, signers[fp].kind if fp in signers else None, n, trusted.get(fp))
        for fp, n in counts.items()
    )
    return VerifyReport(
        count=len(ordered),
        head_seq=head.seq if head else None,
        head_hash=head.entry_hash if head else None,
        problem=problem,
        signers=summaries,
        anchored_seq=anchored,
    )
