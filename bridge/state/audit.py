"""The audit log's rows and the keys that signed them, as stored.

Rows are only ever inserted, one at a time, by `bridge.audit.append`, which
builds and signs each one while it holds the append lock (`lock_head`): on
PostgreSQL a transaction-scoped advisory lock, on SQLite the write lock every
writing transaction takes (BEGIN IMMEDIATE). Hashing and signatures are not
this module's business: it stores text and hands it back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bridge.state.schema import audit_log, audit_signers
from bridge.state.scope import Scope, from_db, insert_for, to_db

# Serialises appenders on PostgreSQL ("coba"); released when the transaction ends.
_APPEND_LOCK = 0x636F6261


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as stored: `details` is the canonical JSON text that was hashed."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: str
    plan_hash: str | None
    prev_hash: str
    entry_hash: str
    signature: str
    signer: str


@dataclass(frozen=True)
class AuditSignerRecord:
    """A key that signed audit entries: its public key, and its certificate chain if enrolled."""

    signer: str
    kind: str  # connector (enrolled) or local (made before enrollment)
    public_key_pem: str
    certificate_pem: str | None
    first_used_at: datetime


def _row(row: sa.Row) -> AuditRow:
    values = row._asdict()
    values["at"] = from_db(values["at"])
    return AuditRow(**values)


class AuditLog:
    """The audit log's table and its signers: lock and read the head, insert, list."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def lock_head(self) -> AuditRow | None:
        """Take the append lock for the rest of the caller's transaction; the newest entry.

        Only meaningful inside `state.transaction()`: the lock ends with the
        transaction, so the head read here stays the head until the commit.
        """
        if not self._scope.in_transaction:
            raise RuntimeError("lock_head runs inside state.transaction(): the lock ends with it")
        with self._scope.write("locking the audit log") as conn:
            if self._scope.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
            return self._newest(conn)

    def head(self) -> AuditRow | None:
        """The newest entry (no lock), or None while the log is empty."""
        with self._scope.read("reading the audit head") as conn:
            return self._newest(conn)

    @staticmethod
    def _newest(conn: sa.Connection) -> AuditRow | None:
        row = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).first()
        return None if row is None else _row(row)

    def insert(self, row: AuditRow) -> None:
        """Store one entry as given (the caller holds the append lock)."""
        values = {**row.__dict__, "at": to_db(row.at)}
        with self._scope.write("appending to the audit log") as conn:
            conn.execute(audit_log.insert().values(**values))

    def add_signer(self, record: AuditSignerRecord) -> None:
        """Keep a signer's public key; a certificate is filled in if it was missing."""
        stmt = insert_for(self._scope, audit_signers).values(
            signer=record.signer,
            kind=record.kind,
            public_key_pem=record.public_key_pem,
            certificate_pem=record.certificate_pem,
            first_used_at=to_db(record.first_used_at),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["signer"],
            set_={"certificate_pem": stmt.excluded.certificate_pem},
            where=audit_signers.c.certificate_pem.is_(None),
        )
        with self._scope.write("recording an audit signer") as conn:
            conn.execute(stmt)

    def entries(self, *, after: int = 0, limit: int | None = None) -> list[AuditRow]:
        """Entries with a sequence above `after`, oldest first (at most `limit`)."""
        stmt = sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._scope.read("reading the audit log") as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def for_target(self, target: str, *, limit: int) -> list[AuditRow]:
        """The newest `limit` entries about `target`, oldest first."""
        stmt = (
            sa.select(audit_log)
            .where(audit_log.c.target == target)
            .order_by(audit_log.c.seq.desc())
            .limit(limit)
        )
        with self._scope.read("reading the audit log") as conn:
            return [_row(r) for r in reversed(conn.execute(stmt).all())]

    def newest(self, limit: int) -> list[AuditRow]:
        """The newest `limit` entries, newest first."""
        stmt = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        with self._scope.read("reading the audit log") as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def signers(self) -> dict[str, AuditSignerRecord]:
        """Every recorded signer, by fingerprint."""
        with self._scope.read("reading the audit signers") as conn:
            rows = conn.execute(sa.select(audit_signers)).all()
        found = {}
        for row in rows:
            values = row._asdict()
            values["first_used_at"] = from_db(values["first_used_at"])
            found[row.signer] = AuditSignerRecord(**values)
        return found
