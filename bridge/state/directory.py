"""Active Directory computers as the connector last read them, and how each matched the site.

Written by the directory pass (`bridge.directory_sync`) only, inside the
transaction that also saves the directory cursor, so the rows and the cursor
always agree. No row is ever deleted: an object gone from AD keeps its row
with `deleted_at` set (DESIGN.md 6: a delete is never silent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bridge.state.schema import directory_computers as computers
from bridge.state.schema import directory_passes as passes
from bridge.state.scope import Scope, chunks, from_db, insert_for, to_db
from onprem.directory import DirectoryRecord

# Directory passes kept for status.
RETAIN_PASSES = 100
_AD_COLUMNS = ("dn", "name", "sam_account_name", "dns_host_name", "os", "os_version")


@dataclass(frozen=True)
class DirectoryComputer:
    """One AD computer as stored: its attributes, and its match with the site."""

    object_guid: str
    dn: str
    name: str
    sam_account_name: str | None
    dns_host_name: str | None
    os: str | None
    os_version: str | None
    last_logon: datetime | None
    disabled: bool
    deleted_at: datetime | None
    matched_smsid: str | None
    match: str
    discrepancy: bool
    updated_at: datetime
    # A digest of the record as the tenant last acknowledged it (None: never sent).
    uploaded_digest: str | None = None


@dataclass(frozen=True)
class MatchResult:
    """How one AD computer matched the site: `match` is dn, name_domain, none or disputed."""

    smsid: str | None
    match: str
    discrepancy: bool = False
    # The SMSIDs of a disputed computer's candidates (not stored here: quarantined).
    candidates: tuple[str, ...] = ()

    def differs(self, computer: DirectoryComputer) -> bool:
        """Whether `computer` stores another match than this one."""
        stored = (computer.matched_smsid, computer.match, computer.discrepancy)
        return stored != (self.smsid, self.match, self.discrepancy)


@dataclass(frozen=True)
class DirectoryPassRecord:
    """One directory pass as recorded for status."""

    at: datetime
    kind: str
    outcome: str
    counts: dict[str, int]
    error: str | None


def _values(record: DirectoryRecord) -> dict[str, Any]:
    return {
        "dn": record.dn,
        "name": record.name,
        "sam_account_name": record.sam_account_name,
        "dns_host_name": record.dns_host_name,
        "os": record.operating_system,
        "os_version": record.operating_system_version,
        "last_logon": to_db(record.last_logon) if record.last_logon else None,
        "disabled": record.disabled,
    }


class DirectoryComputers:
    """The directory's computers: apply a read or a delta, store matches, count."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def apply(self, records: Iterable[DirectoryRecord], *, now: datetime) -> int:
        """Store live `records` (new, changed, or back after a delete); how many."""
        rows = [
            {"object_guid": str(r.object_guid), **_values(r), "updated_at": to_db(now)}
            for r in records
            if not r.deleted
        ]
        if not rows:
            return 0
        stmt = insert_for(self._scope, computers)
        # Matches are left as they are here: the pass recomputes them afterwards.
        update = {c: stmt.excluded[c] for c in (*_AD_COLUMNS, "last_logon", "disabled")}
        update |= {"deleted_at": None, "updated_at": stmt.excluded.updated_at}
        fresh = {"match": "none", "discrepancy": False, "deleted_at": None}
        with self._scope.write("storing directory computers") as conn:
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["object_guid"], set_=update),
                [row | fresh for row in rows],
            )
        return len(rows)

    def mark_deleted(self, guids: Iterable[str], *, now: datetime) -> int:
        """Mark objects gone from AD (or from scope): the rows stay; how many were live."""
        marked = 0
        with self._scope.write("marking directory computers deleted") as conn:
            for chunk in chunks(list(dict.fromkeys(guids))):
                result = conn.execute(
                    computers.update()
                    .where(computers.c.object_guid.in_(chunk), computers.c.deleted_at.is_(None))
                    .values(deleted_at=to_db(now), updated_at=to_db(now))
                )
                marked += int(result.rowcount or 0)
        return marked

    def live_guids(self) -> set[str]:
        """The GUIDs of every stored object not marked deleted."""
        stmt = sa.select(computers.c.object_guid).where(computers.c.deleted_at.is_(None))
        with self._scope.read("reading directory GUIDs") as conn:
            return set(conn.execute(stmt).scalars())

    def all(self) -> list[DirectoryComputer]:
        """Every stored computer, deleted ones included, by GUID."""
        with self._scope.read("reading directory computers") as conn:
            rows = conn.execute(sa.select(computers).order_by(computers.c.object_guid)).all()
        found = []
        for row in rows:
            values = row._asdict()
            for key in ("last_logon", "deleted_at", "updated_at"):
                values[key] = from_db(values[key])
            found.append(DirectoryComputer(**values))
        return found

    def set_matches(self, matches: Mapping[str, MatchResult]) -> None:
        """Store each computer's match with the site (by GUID)."""
        rows = [
            {"g": guid, "s": m.smsid, "m": m.match, "d": m.discrepancy}
            for guid, m in matches.items()
        ]
        if not rows:
            return
        stmt = (
            computers.update()
            .where(computers.c.object_guid == sa.bindparam("g"))
            .values(
                matched_smsid=sa.bindparam("s"),
                match=sa.bindparam("m"),
                discrepancy=sa.bindparam("d"),
            )
        )
        with self._scope.write("storing directory matches") as conn:
            conn.execute(stmt, rows)

    def mark_uploaded(self, digests: Mapping[str, str]) -> None:
        """Record, per GUID, the digest of the record the tenant acknowledged."""
        rows = [{"g": guid, "u": digest} for guid, digest in digests.items()]
        if not rows:
            return
        stmt = (
            computers.update()
            .where(computers.c.object_guid == sa.bindparam("g"))
            .values(uploaded_digest=sa.bindparam("u"))
        )
        with self._scope.write("recording uploaded directory computers") as conn:
            conn.execute(stmt, rows)

    def counts(self) -> dict[str, int]:
        """Live computers, matched, no agent, disabled, disputed; and discrepancies."""
        live = computers.c.deleted_at.is_(None)
        stmt = sa.select(
            sa.func.count().filter(live),
            sa.func.count().filter(live, computers.c.match.in_(("dn", "name_domain"))),
            sa.func.count().filter(live, computers.c.match == "none"),
            sa.func.count().filter(live, computers.c.disabled.is_(True)),
            sa.func.count().filter(live, computers.c.match == "disputed"),
            sa.func.count().filter(computers.c.discrepancy.is_(True)),
        )
        with self._scope.read("counting directory computers") as conn:
            row = conn.execute(stmt).one()
        keys = ("computers", "matched", "no_agent", "disabled", "disputed", "discrepancies")
        return dict(zip(keys, (int(v) for v in row), strict=True))

    def record_pass(
        self,
        kind: str,
        outcome: str,
        *,
        now: datetime,
        counts: dict[str, int] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a pass went (the newest `RETAIN_PASSES` are kept)."""
        with self._scope.write("recording a directory pass") as conn:
            conn.execute(
                passes.insert().values(
                    at=to_db(now), kind=kind, outcome=outcome, counts=counts or {}, error=error
                )
            )
            newest = sa.select(passes.c.pass_id).order_by(passes.c.pass_id.desc())
            ids = list(conn.execute(newest.offset(RETAIN_PASSES)).scalars())
            if ids:
                conn.execute(passes.delete().where(passes.c.pass_id.in_(ids)))

    def last_pass(self) -> DirectoryPassRecord | None:
        """The newest recorded pass, or None before the first."""
        stmt = sa.select(passes).order_by(passes.c.pass_id.desc()).limit(1)
        with self._scope.read("reading the last directory pass") as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return DirectoryPassRecord(
            from_db(row.at), row.kind, row.outcome, dict(row.counts or {}), row.error
        )
