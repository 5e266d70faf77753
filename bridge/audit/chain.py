"""Appending to the connector's audit chain, and reading it back as entries.

`append` runs in the caller's transaction when given one (the entry commits
or rolls back with the change it records) and in a transaction of its own
otherwise. Either way it holds the append lock from reading the head to
inserting the entry, so appenders in several threads or processes form one
chain, never a fork. Append as the last step of a transaction: the lock is
held until that transaction ends, and every other appender waits for it.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

from bridge.audit.entry import GENESIS, SIGNER_CHANGED, AuditEntry, AuditEvent, canonical_json
from bridge.audit.signer import AuditSigner
from bridge.state import AuditRow, AuditSignerRecord
from bridge.state.ports import WithAudit


class AuditStore(WithAudit, Protocol):
    """The audit log, alone or inside the transaction of the change it records.

    `ConnectorState` (each call its own transaction) and `StateTransaction`
    (the change's; its `transaction()` joins it) both are one.
    """

    def transaction(self) -> AbstractContextManager[AuditStore]:
        """A transaction for the entries of one event (the open one, inside a transaction)."""
        ...


def to_row(entry: AuditEntry) -> AuditRow:
    """The entry as stored (details as their canonical text)."""
    return AuditRow(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        details=canonical_json(entry.details),
        plan_hash=entry.plan_hash,
        prev_hash=entry.prev_hash,
        entry_hash=entry.entry_hash,
        signature=entry.signature,
        signer=entry.signer,
    )


def from_row(row: AuditRow) -> AuditEntry:
    """A stored entry as the chain's entry (details parsed; unreadable details kept as text)."""
    try:
        details = json.loads(row.details)
    except ValueError:
        details = None
    if not isinstance(details, dict):
        # Still an entry: its hash cannot match, so verify names it as edited.
        details = {"unreadable": row.details}
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=details,
        plan_hash=row.plan_hash,
        prev_hash=row.prev_hash,
        signer=row.signer,
        entry_hash=row.entry_hash,
        signature=row.signature,
    )


def chain_entry(
    event: AuditEvent, *, seq: int, prev_hash: str, signer: AuditSigner, now: datetime
) -> AuditEntry:
    """The signed entry for a (normalized) event at `seq` after `prev_hash`."""
    unsigned = AuditEntry(
        seq=seq,
        at=now,
        actor=event.actor,
        action=event.action,
        target=event.target,
        details=dict(event.details),
        plan_hash=event.plan_hash,
        prev_hash=prev_hash,
        signer=signer.fingerprint,
        entry_hash="",
        signature="",
    )
    entry_hash = unsigned.computed_hash()
    return AuditEntry(
        **{**unsigned.__dict__, "entry_hash": entry_hash, "signature": signer.sign(entry_hash)}
    )


def append(
    store: AuditStore, signer: AuditSigner, event: AuditEvent, *, now: datetime
) -> AuditEntry:
    """Chain, sign and store `event`; the entry as stored.

    `store` is the `ConnectorState` (a transaction of its own) or the
    `StateTransaction` of the change being recorded. When the signer differs
    from the head's (a renewed certificate, or the first entry after
    enrollment), an `audit.signer-changed` entry signed by the new key comes
    first, naming the key it follows. Raises ValueError for an event that
    cannot be stored (see `AuditEvent.normalized`) and StateError on database
    failures.
    """
    normalized = event.normalized()
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    with store.transaction() as tx:
        seq, prev_hash, _ = _introduce(tx, signer, now)
        entry = chain_entry(normalized, seq=seq + 1, prev_hash=prev_hash, signer=signer, now=now)
        tx.audit.insert(to_row(entry))
    return entry


def _introduce(tx: AuditStore, signer: AuditSigner, now: datetime) -> tuple[int, str, bool]:
    """Lock the head, record the signer, chain its `SIGNER_CHANGED` entry if due.

    The head after it (seq, hash), and whether the entry was chained.
    """
    head = tx.audit.lock_head()
    seq, prev_hash = (head.seq, head.entry_hash) if head else (0, GENESIS)
    tx.audit.add_signer(signer.record(now))
    if head is not None and head.signer != signer.fingerprint:
        change = AuditEvent(
            actor="connector",
            action=SIGNER_CHANGED,
            target=signer.fingerprint,
            details={"previous": head.signer, "kind": signer.kind},
        )
        introduced = chain_entry(change, seq=seq + 1, prev_hash=prev_hash, signer=signer, now=now)
        tx.audit.insert(to_row(introduced))
        return introduced.seq, introduced.entry_hash, True
    return seq, prev_hash, False


def hand_over(store: AuditStore, signer: AuditSigner, *, now: datetime) -> bool:
    """Chain the `SIGNER_CHANGED` entry now if the head was signed by another key; whether it did.

    What `append` would do before its next entry, done at once: so entries
    signed before enrollment are vouched for by the enrolled key (and a
    verifier trusting its certificate trusts them) without waiting for a change.
    """
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    head = store.audit.head()
    if head is None or head.signer == signer.fingerprint:
        return False
    with store.transaction() as tx:
        return _introduce(tx, signer, now)[2]


def read_chain(store: AuditStore) -> tuple[list[AuditEntry], dict[str, AuditSignerRecord]]:
    """Every entry, oldest first, and every signer any of them names (if recorded)."""
    rows = store.audit.entries()
    # Read after the entries: signers are only ever added, each before its first entry.
    signers = store.audit.signers()
    return [from_row(r) for r in rows], signers
