"""The connector's audit log on the wire: the upload, its answer, and how admins read it.

The connector sends its hash-chained audit log (`cloud.contract.audit_chain`)
in sequence order, up to `MAX_AUDIT_BATCH` entries at a time, with the
records of the keys that signed them that it has not sent yet, naming the
chain they belong to: its `chainId` is the entry hash of its entry 1 (the
genesis entry, itself hashed and signed). A batch must continue the chain
the tenant holds under that id: its first entry is that chain's head + 1 and
links to the head's hash (refused otherwise with `audit_chain_gap`, whose
details give that chain's head; 0 when the tenant holds no such chain).
Entries the tenant already holds with the same hash are skipped, so a batch
sent again changes nothing; another entry for a held sequence is refused
(`audit_chain_conflict`): held entries are never rewritten.

A hierarchy may hold several chains: a connector reinstalled with a fresh
state store (or re-attached, or whose state database was recreated) starts
a new one at entry 1. A batch starting at entry 1, linking to the genesis
hash, whose hash names no chain the tenant holds for the hierarchy starts a
new chain, which becomes the hierarchy's current one; the one before stays
stored and readable, superseded (when, and by which chain). A batch for a
superseded chain is refused (`audit_chain_superseded`). The tenant keeps the
last refused upload of each hierarchy (code, message, when, which connector).

The tenant checks each entry as it arrives, against its own CA: `verified`
(hash, link and signature sound, signed by a key its CA certified for this
hierarchy or one a trusted key vouched for), `pending` (sound, but signed by
a key nothing vouches for yet, such as the key a connector used before it
enrolled, until the entry that vouches for it arrives), or `failed` (the
entry's `problem` says why: edited, missing, bad_signature, unknown_signer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from cloud.contract.audit_chain import FORMAT_VERSION, AuditEntry
from cloud.contract.naming import CamelModel, CamelResponse

MAX_AUDIT_BATCH = 500
MAX_AUDIT_SIGNERS = 16
MAX_AUDIT_PAGE = 500
HEX64 = r"^[0-9a-f]{64}$"
BASE64 = r"^[A-Za-z0-9+/]+={0,2}$"

EntryStatus = Literal["verified", "pending", "failed"]
# The chain as a whole: nothing held, every entry verified, some awaiting a vouching
# entry (none failed), or a first failed entry.
ChainState = Literal["empty", "verified", "pending", "failed"]


class AuditSignerIn(CamelModel):
    """A key that signed entries: its public key and, once enrolled, its certificate chain."""

    signer: str = Field(pattern=HEX64)
    kind: Literal["connector", "local"]
    public_key_pem: str = Field(min_length=1, max_length=4096)
    certificate_pem: str | None = Field(default=None, min_length=1, max_length=65536)


class AuditEntryIn(CamelModel):
    """One chained, signed entry (the chain's wire form, camelCase)."""

    v: Literal[1] = FORMAT_VERSION
    seq: int = Field(ge=1, le=2**62)
    at: datetime
    actor: str = Field(max_length=255)
    action: str = Field(min_length=1, max_length=64)
    target: str = Field(max_length=512)
    details: dict[str, Any]
    plan_hash: str | None = Field(default=None, max_length=128)
    prev_hash: str = Field(pattern=HEX64)
    signer: str = Field(pattern=HEX64)
    entry_hash: str = Field(pattern=HEX64)
    signature: str = Field(min_length=1, max_length=256, pattern=BASE64)

    @model_validator(mode="after")
    def _aware(self) -> AuditEntryIn:
        if self.at.tzinfo is None:
            raise ValueError("at needs a time zone (the chain writes UTC with a Z)")
        return self

    def chain_entry(self) -> AuditEntry:
        """The entry as the chain's rules hash and verify it."""
        return AuditEntry(
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            action=self.action,
            target=self.target,
            details=self.details,
            plan_hash=self.plan_hash,
            prev_hash=self.prev_hash,
            signer=self.signer,
            entry_hash=self.entry_hash,
            signature=self.signature,
        )

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryIn:
        """The wire form of a chain entry."""
        return cls(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            details=entry.details,
            plan_hash=entry.plan_hash,
            prev_hash=entry.prev_hash,
            signer=entry.signer,
            entry_hash=entry.entry_hash,
            signature=entry.signature,
        )


class AuditUpload(CamelModel):
    """Entries of one chain in sequence order (consecutive), and the signer records not sent before.

    `chainId`: the entry hash of the chain's entry 1. A batch that starts at
    entry 1 may leave it out (it is that entry's hash); any other batch names it.
    """

    chain_id: str | None = Field(default=None, pattern=HEX64)
    signers: list[AuditSignerIn] = Field(default_factory=list, max_length=MAX_AUDIT_SIGNERS)
    entries: list[AuditEntryIn] = Field(min_length=1, max_length=MAX_AUDIT_BATCH)

    @model_validator(mode="after")
    def _consecutive(self) -> AuditUpload:
        first = self.entries[0].seq
        if [e.seq for e in self.entries] != list(range(first, first + len(self.entries))):
            raise ValueError("entries are consecutive, in sequence order")
        if len({s.signer for s in self.signers}) != len(self.signers):
            raise ValueError("a batch names each signer at most once")
        if first == 1:
            if self.chain_id not in (None, self.entries[0].entry_hash):
                raise ValueError("chainId is the entry hash of the chain's entry 1")
        elif self.chain_id is None:
            raise ValueError("chainId (the entry hash of entry 1) names the chain of a batch")
        return self

    @property
    def chain(self) -> str:
        """The chain's id: `chainId`, or the hash of entry 1 when the batch starts there."""
        return self.chain_id or self.entries[0].entry_hash


class AuditProblem(CamelResponse):
    """What is wrong with an entry: its sequence, a stable kind, a sentence for people."""

    seq: int
    kind: str  # edited, missing, bad_signature, unknown_signer
    message: str


class AuditChainStatus(CamelResponse):
    """A chain the tenant holds for a hierarchy, as verified so far.

    `chainId`: the entry hash of its entry 1 (None while the hierarchy holds
    no chain). It spans entries 1 to `headSeq`, written by the connector
    from `firstAt` to `lastAt`. `verifiedThroughSeq`: every entry up to it is
    verified (0: none yet). `problem`: the first failed entry;
    `pendingEntries`: how many await a vouching entry. `supersededAt` and
    `supersededBy`: when a newer chain (its id) took its place; None for
    the hierarchy's current chain.
    """

    chain_id: str | None
    current: bool
    started_at: datetime | None
    first_at: datetime | None
    last_at: datetime | None
    superseded_at: datetime | None
    superseded_by: str | None
    state: ChainState
    entries: int
    head_seq: int | None
    head_hash: str | None
    verified_through_seq: int
    pending_entries: int
    problem: AuditProblem | None
    received_at: datetime | None


class AuditUploadAck(CamelResponse):
    """A batch taken: how many entries were new, and the chain's status after it."""

    received: int
    stored: int
    chain: AuditChainStatus


class AuditSignerOut(CamelResponse):
    """A key that signed the hierarchy's entries, and why the tenant trusts it (if it does)."""

    signer: str
    kind: str
    entries: int
    trusted_because: str | None
    certificate_subject: str | None
    received_at: datetime


class ConnectorAuditEntryOut(CamelResponse):
    """A held entry in the chain's wire form, with the tenant's verdict on it."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    plan_hash: str | None
    prev_hash: str
    signer: str
    entry_hash: str
    signature: str
    status: EntryStatus
    problem: AuditProblem | None
    received_at: datetime


class AuditRefusal(CamelResponse):
    """The last upload the tenant refused for a hierarchy: its code, why, when, from whom.

    `chainId`: the chain the upload named; `acceptedSince`: an upload was
    taken after it (the refusal may be resolved).
    """

    code: str
    message: str
    at: datetime
    connector_id: str
    chain_id: str | None
    accepted_since: bool


class ConnectorAuditLogOut(CamelResponse):
    """A page of one chain of a hierarchy's connector audit log, newest first, and its status.

    `chain`: the chain read (the current one unless the query names another);
    `chains`: every chain held, the current one first, then those it
    superseded, newest first; `lastRefusal`: the last refused upload.
    `signers`: the hierarchy's keys, with how many entries of this chain each
    signed. `nextBefore`: pass it as `before` for the next (older) page;
    None on the last.
    """

    chain: AuditChainStatus
    chains: list[AuditChainStatus]
    last_refusal: AuditRefusal | None
    signers: list[AuditSignerOut]
    value: list[ConnectorAuditEntryOut]
    next_before: int | None


class ConnectorAuditQuery(CamelModel):
    """Paging: `$top` entries with a sequence below `before` (none: from the newest).

    `chain`: the id of the chain to read (none: the hierarchy's current chain).
    """

    top: int = Field(default=100, ge=1, le=MAX_AUDIT_PAGE, alias="$top")
    before: int | None = Field(default=None, ge=1, le=2**62)
    chain: str | None = Field(default=None, pattern=HEX64)
