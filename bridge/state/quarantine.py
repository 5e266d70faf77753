"""Quarantine: records that failed validation or identity resolution, with their reasons.

One row per (source, record key), upserted each cycle the record is still
bad (first_seen stays, last_seen moves) and cleared when it becomes valid or
disappears. Identity disputes (DESIGN.md section 5) use the same rows, with
reason `disputed` and the candidates named in the detail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from bridge.state.schema import quarantine
from bridge.state.scope import Scope, chunks, clean_text, from_db, insert_for, to_db


def quarantine_key(resource_id: int | None, smsid: str | None, name: str | None) -> str:
    """The key of a record: its ResourceID, else its SMSID, else its name (never empty).

    The ResourceID comes first because it is the one key a reject still has
    when its SMSID is the bad value; a valid device gives the same key.
    """
    if resource_id is not None:
        return f"rid:{resource_id}"
    for kind, value in (("smsid", smsid), ("name", name)):
        if value:
            text = f"{kind}:{value}"
            if len(text) <= 160 and "\x00" not in text:
                return text
            return f"{kind}#" + hashlib.sha256(value.encode()).hexdigest()
    return "unidentified"


class Rejected(Protocol):
    """What is quarantined: `onprem.site_records.RejectedRecord`, or an identity dispute."""

    resource_id: int | None
    smsid: str | None
    name: str | None
    reason: str
    column: str
    detail: str


@dataclass(frozen=True)
class QuarantineEntry:
    """A quarantined record as an admin sees it."""

    source: str
    key: str
    reason: str
    column: str
    detail: str
    resource_id: int | None
    smsid: str | None
    name: str | None
    first_seen: datetime
    last_seen: datetime


class Quarantine:
    """Quarantined records per source."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def put(self, source: str, records: Iterable[Rejected], *, now: datetime) -> int:
        """Quarantine `records` (or refresh them, keeping first_seen); how many were given."""
        rows: dict[str, dict[str, object]] = {}
        for r in records:
            key = quarantine_key(r.resource_id, r.smsid, r.name)
            rows[key] = {
                "source": source,
                "record_key": key,
                "reason": clean_text(r.reason, 64),
                "column": clean_text(r.column, 128),
                "detail": clean_text(r.detail, 4000),
                "resource_id": r.resource_id,
                "smsid": clean_text(r.smsid, 255),
                "name": clean_text(r.name, 255),
                "first_seen": to_db(now),
                "last_seen": to_db(now),
            }
        if not rows:
            return 0
        stmt = insert_for(self._scope, quarantine)
        refreshed = ("reason", "column", "detail", "resource_id", "smsid", "name", "last_seen")
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "record_key"],
            set_={c: stmt.excluded[c] for c in refreshed},
        )
        with self._scope.write("quarantining records") as conn:
            conn.execute(stmt, list(rows.values()))
        return len(rows)

    def clear(
        self,
        source: str,
        *,
        keys: Iterable[str] = (),
        not_seen_since: datetime | None = None,
    ) -> int:
        """Release records that became valid (`keys`), or, after a complete read, every
        record not quarantined again since `not_seen_since`; how many were released."""
        removed = 0
        with self._scope.write("clearing quarantine") as conn:
            for chunk in chunks(list(keys)):
                removed += conn.execute(
                    quarantine.delete().where(
                        quarantine.c.source == source, quarantine.c.record_key.in_(chunk)
                    )
                ).rowcount
            if not_seen_since is not None:
                removed += conn.execute(
                    quarantine.delete().where(
                        quarantine.c.source == source,
                        quarantine.c.last_seen < to_db(not_seen_since),
                    )
                ).rowcount
        return removed

    def counts(self, source: str | None = None) -> dict[str, int]:
        """Quarantined records by reason code (of one source, or all)."""
        stmt = sa.select(quarantine.c.reason, sa.func.count()).group_by(quarantine.c.reason)
        if source is not None:
            stmt = stmt.where(quarantine.c.source == source)
        with self._scope.read("counting quarantine") as conn:
            return {reason: int(n) for reason, n in conn.execute(stmt)}

    def entries(self, source: str | None = None, *, limit: int = 100) -> list[QuarantineEntry]:
        """The most recently seen quarantined records, newest first."""
        stmt = sa.select(quarantine).order_by(
            quarantine.c.last_seen.desc(), quarantine.c.source, quarantine.c.record_key
        )
        if source is not None:
            stmt = stmt.where(quarantine.c.source == source)
        with self._scope.read("listing quarantine") as conn:
            rows = conn.execute(stmt.limit(limit)).all()
        return [
            QuarantineEntry(
                source=r.source,
                key=r.record_key,
                reason=r.reason,
                column=r.column,
                detail=r.detail,
                resource_id=r.resource_id,
                smsid=r.smsid,
                name=r.name,
                first_seen=from_db(r.first_seen),
                last_seen=from_db(r.last_seen),
            )
            for r in rows
        ]
