"""Sending the audit log to the tenant: the entries it does not hold yet, in order.

The tenant keeps the chain it was sent and checks it against its own CA
(`POST /connector/v1/audit/entries`). A chain is named by the hash of its
entry 1: a connector reinstalled with a fresh state store (or whose state
database was recreated) writes a new chain, which the tenant takes as the
hierarchy's current one, superseding the old. What the tenant acknowledged
is remembered as the cursor of source `audit-upload` in the state store:
the chain it belongs to, the head the tenant holds (sequence and hash) and
a digest of each signer record it was sent, with the tenant and hierarchy
as the source's instance (another enrollment starts over). A cursor of
another chain than the one in the state store (a restored or replaced
database) is ignored. After each heartbeat or sync cycle, `run()` sends the entries after
that head, `MAX_AUDIT_BATCH` at a time, with the signer records the tenant
has not had in their current form. Given the data directory, it first lets
the key in force vouch for the previous one (`hand_over`): entries signed
before enrollment are then verified by the tenant at once.

The tenant is the judge of what it holds: a batch that does not continue its
head is refused with the head, and the upload resumes from there; a refused
conflict (the tenant holds another entry for a sequence: this log was
changed after it was sent) is logged as an error and nothing more is sent,
and so is a superseded chain (another connector of the hierarchy started a
newer one: this connector's entries are no longer taken).
Sending a batch again is harmless, so a crash between the acknowledgement
and the cursor's save costs one repeated batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bridge.audit.chain import from_row, hand_over
from bridge.audit.signer import load_signer
from bridge.state import AuditSignerRecord
from bridge.state.ports import WithAudit, WithSources
from bridge.tenant.audit import tenant_head
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudApiError
from cloud.contract.audit_chain import GENESIS
from cloud.contract.connector_audit import (
    MAX_AUDIT_BATCH,
    AuditEntryIn,
    AuditSignerIn,
    AuditUploadAck,
)
from workloads.errors import CobridgeError

log = logging.getLogger("cobridge.connector")

SOURCE = "audit-upload"
# Refusals answered by starting again from the tenant's head, in one run.
MAX_RESTARTS = 3
# Refusals no resend can mend: the log or the tenant's view of it needs a person.
FATAL = frozenset({"audit_chain_conflict", "audit_chain_superseded"})


@dataclass
class UploadCursor:
    """What the tenant acknowledged of a chain: its head, and the signer records it holds.

    `chain` is the entry hash of the chain's entry 1 (None: the log is empty);
    signer records are kept by digest.
    """

    chain: str | None = None
    seq: int = 0
    head_hash: str = GENESIS
    signers: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """The cursor as the state store keeps it."""
        return json.dumps(
            {"chain": self.chain, "seq": self.seq, "hash": self.head_hash, "signers": self.signers}
        )

    @classmethod
    def parse(cls, text: str | None) -> UploadCursor:
        """A stored cursor; a missing or unreadable one starts from the beginning."""
        try:
            value = json.loads(text or "")
            chain = value["chain"]
            return cls(
                chain if isinstance(chain, str) else None,
                int(value["seq"]),
                str(value["hash"]),
                dict(value["signers"]),
            )
        except (ValueError, TypeError, KeyError):
            return cls()

    def restart(self, seq: int = 0, head_hash: str = GENESIS) -> UploadCursor:
        """The same chain from another head, with no signer record known to be held."""
        return UploadCursor(self.chain, seq, head_hash, {})


@dataclass
class AuditUploadReport:
    """One run: entries sent and newly stored, the tenant's verdict on the chain, an error."""

    sent: int = 0
    stored: int = 0
    chain_state: str | None = None
    head_seq: int | None = None
    error: str | None = None


def signer_digest(record: AuditSignerRecord) -> str:
    """A digest of a signer record as sent: a certificate filled in later changes it."""
    text = f"{record.signer}\n{record.kind}\n{record.public_key_pem}\n{record.certificate_pem}"
    return hashlib.sha256(text.encode()).hexdigest()


def wire_signer(record: AuditSignerRecord) -> AuditSignerIn:
    """A signer record in the upload's form."""
    return AuditSignerIn(
        signer=record.signer,
        kind=record.kind,  # type: ignore[arg-type]
        public_key_pem=record.public_key_pem,
        certificate_pem=record.certificate_pem,
    )


class AuditUploadStore(WithAudit, WithSources, Protocol):
    """The audit log and the upload's cursor, which is saved in a transaction of its own."""

    def transaction(self) -> AbstractContextManager[AuditUploadStore]:
        """One transaction: committed on success, rolled back on error."""
        ...


class AuditUpload:
    """Sends the entries the tenant does not hold; `run()` after each heartbeat or cycle."""

    def __init__(
        self,
        state: AuditUploadStore,
        client: ConnectorClient,
        *,
        instance: str,
        clock: Callable[[], datetime],
        data_dir: Path | None = None,
        batch: int = MAX_AUDIT_BATCH,
    ) -> None:
        self.state = state
        self.client = client
        self.instance = instance
        self.clock = clock
        self.data_dir = data_dir
        self.batch = batch

    def _hand_over(self) -> None:
        """Let the key in force vouch for the one before it now, rather than at the next change."""
        if self.data_dir is not None:
            hand_over(self.state, load_signer(self.data_dir), now=self.clock())

    def _genesis(self) -> str | None:
        """The id of the chain in the state store: the hash of its first entry (None: empty)."""
        first = self.state.audit.entries(limit=1)
        return first[0].entry_hash if first else None

    def _cursor(self) -> UploadCursor:
        """The stored cursor, if it is of this enrollment and of the chain in the state store."""
        chain = self._genesis()
        stored = self.state.sources.get(SOURCE)
        if stored is None or stored.instance_id != self.instance:
            return UploadCursor(chain)
        cursor = UploadCursor.parse(stored.cursor)
        if cursor.chain != chain:
            if cursor.seq:
                log.warning(
                    "the audit-upload cursor is of another audit chain than this state store's "
                    "(the store was replaced or restored): sending the log from its start"
                )
            return UploadCursor(chain)
        return cursor

    def _save(self, cursor: UploadCursor) -> None:
        with self.state.transaction() as tx:
            tx.sources.save(SOURCE, self.instance, cursor.text(), now=self.clock())

    def _next_batch(
        self, cursor: UploadCursor
    ) -> tuple[list[AuditEntryIn], list[AuditSignerRecord]]:
        rows = self.state.audit.entries(after=cursor.seq, limit=self.batch)
        if not rows:
            return [], []
        records = self.state.audit.signers()
        entries = [AuditEntryIn.of(from_row(r)) for r in rows]
        named = dict.fromkeys(e.signer for e in entries)
        unsent = [
            records[fp]
            for fp in named
            if fp in records and cursor.signers.get(fp) != signer_digest(records[fp])
        ]
        return entries, unsent

    async def run(self) -> AuditUploadReport:
        """Send what the tenant does not hold; failures are logged and reported, never raised."""
        report = AuditUploadReport()
        restarts = 0
        try:
            await asyncio.to_thread(self._hand_over)
            cursor = await asyncio.to_thread(self._cursor)
        except CobridgeError as exc:
            report.error = f"cannot prepare the audit log for sending: {exc}"
            log.error("%s", report.error)
            return report
        while True:
            try:
                entries, signers = await asyncio.to_thread(self._next_batch, cursor)
            except (CobridgeError, ValueError) as exc:
                report.error = f"cannot read the audit log to send it: {exc}"
                log.error("%s", report.error)
                return report
            if not entries:
                return report
            try:
                ack = await self.client.send_audit_entries(
                    entries, [wire_signer(s) for s in signers], chain_id=cursor.chain
                )
            except CloudApiError as exc:
                restart = await asyncio.to_thread(self._restart, exc, cursor)
                if restart is not None and restarts < MAX_RESTARTS:
                    restarts += 1
                    cursor = restart
                    continue
                report.error = str(exc)
                level = logging.ERROR if exc.code in FATAL else logging.WARNING
                log.log(level, "sending the audit log failed: %s", exc)
                return report
            except CobridgeError as exc:
                report.error = str(exc)
                log.warning("sending the audit log failed (retried next time): %s", exc)
                return report
            cursor = self._acknowledged(cursor, ack, entries, signers)
            await asyncio.to_thread(self._save, cursor)
            report.sent += len(entries)
            report.stored += ack.stored
            report.chain_state, report.head_seq = ack.chain.state, ack.chain.head_seq
            if ack.chain.state == "failed" and ack.chain.problem is not None:
                log.error("the tenant finds the audit log broken: %s", ack.chain.problem.message)

    def _restart(self, error: CloudApiError, cursor: UploadCursor) -> UploadCursor | None:
        """Where to resume after a refusal the tenant's answer lets us correct; else None."""
        if error.code == "audit_signer_missing":
            return cursor.restart(cursor.seq, cursor.head_hash)
        head = tenant_head(error)
        if head is None:
            return None
        seq, head_hash = head
        local = self.state.audit.head()
        if local is None or seq > local.seq:
            log.error(
                "the tenant holds audit entries through %d, but this connector's log ends at %s: "
                "the state store was replaced or restored",
                seq,
                local.seq if local else 0,
            )
            return None
        # The same head again: our next entry does not link to it, and never will.
        return None if seq == cursor.seq else cursor.restart(seq, head_hash)

    @staticmethod
    def _acknowledged(
        cursor: UploadCursor,
        ack: AuditUploadAck,
        entries: list[AuditEntryIn],
        signers: list[AuditSignerRecord],
    ) -> UploadCursor:
        sent = {s.signer: signer_digest(s) for s in signers}
        seq, head_hash = entries[-1].seq, entries[-1].entry_hash
        if ack.chain.head_seq is not None and ack.chain.head_seq > seq and ack.chain.head_hash:
            seq, head_hash = ack.chain.head_seq, ack.chain.head_hash
        # A log that was empty when the run began is named by the entry 1 just sent.
        chain = cursor.chain or (entries[0].entry_hash if entries[0].seq == 1 else None)
        return UploadCursor(chain, seq, head_hash, {**cursor.signers, **sent})
