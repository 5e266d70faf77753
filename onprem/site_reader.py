"""The inventory reader: streams a site's devices as validated records or rejects.

The read walks `v_R_System` in keyset chunks of ResourceIDs. Each chunk is
one range query joining the inventory views and one range query over
memberships, merged in order, so memory is bounded by the chunk size, never
by the size of the site. Every statement is plain SQLAlchemy Core that
compiles for SQL Server, PostgreSQL and SQLite alike (see `statements`).

A read is *complete* only when it reached the end without an error; the
connector may reconcile deletes against complete reads only (DESIGN.md
section 6). A record that fails validation becomes a `RejectedRecord` and the
read goes on.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError

from onprem.errors import SiteReadFailed
from onprem.site_database import site_errors
from onprem.site_records import ClientHealth, CoManagementState, RejectedRecord, SiteDevice
from onprem.site_statements import (
    COMANAGEMENT_COLUMNS,
    HEALTH_COLUMNS,
    ReadScope,
    chunk_bounds,
    collection_rows,
    device_rows,
    membership_rows,
)
from onprem.site_store import SiteIdentity, read_site_identity, require_site_schema

# Bump when the hashed content changes shape: every device then uploads once.
HASH_VERSION = "1"

_WRONG_TYPE_ERRORS = {
    "int_type",
    "int_parsing",
    "string_type",
    "datetime_type",
    "datetime_parsing",
    "bool_type",
    "bool_parsing",
    "int_from_float",
}


class SiteCollection(BaseModel):
    """A collection from `v_Collection`."""

    model_config = ConfigDict(frozen=True)

    collection_id: str
    name: str
    collection_type: int
    limit_to: str | None
    last_change: datetime | None


@dataclass
class ReadStats:
    """What one read saw; `complete` is true only after the last row was read."""

    identity: SiteIdentity | None = None
    rows: int = 0
    records: int = 0
    rejected: int = 0
    obsolete: int = 0
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    chunks: int = 0
    complete: bool = False


def content_hash(values: tuple[Any, ...], collections: tuple[str, ...]) -> str:
    """A stable digest of everything read for one device, to detect changes cheaply."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(HASH_VERSION.encode())
    digest.update(repr(values).encode())
    digest.update(repr(collections).encode())
    return digest.hexdigest()


class SiteReader:
    """Reads the inventory of one site database through its documented views."""

    def __init__(self, engine: sa.Engine, *, chunk_size: int = 5000) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._engine = engine
        self._chunk_size = chunk_size

    @property
    def engine(self) -> sa.Engine:
        """The engine this reader reads through."""
        return self._engine

    def check(self) -> SiteIdentity:
        """Verify every required view and column is readable; return the site identity."""
        require_site_schema(self._engine)
        return read_site_identity(self._engine)

    def collections(self) -> list[SiteCollection]:
        """All collections, ordered by CollectionID (a few thousand at most)."""
        stmt = collection_rows()
        with site_errors(self._engine, "reading collections"), self._engine.connect() as conn:
            return [
                SiteCollection(
                    collection_id=r.CollectionID,
                    name=r.Name,
                    collection_type=r.CollectionType,
                    limit_to=r.LimitToCollectionID or None,
                    last_change=r.LastChangeTime,
                )
                for r in conn.execute(stmt)
            ]

    def read(self, scope: ReadScope | None = None) -> InventoryRead:
        """Start a full read; iterate the result for records and rejects."""
        return InventoryRead(self, scope or ReadScope())

    def _snapshot(self) -> sa.Connection:
        conn = self._engine.connect()
        if self._engine.dialect.name == "postgresql":
            # One consistent snapshot across every chunk of the read.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        return conn


class InventoryRead:
    """One pass over the site; yields `SiteDevice` and `RejectedRecord` in ResourceID order."""

    def __init__(self, reader: SiteReader, scope: ReadScope) -> None:
        self._reader = reader
        self.scope = scope
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[SiteDevice | RejectedRecord]:
        reader = self._reader
        engine = reader.engine
        with (
            site_errors(engine, "reading the inventory"),
            reader._snapshot() as conn,
            conn.begin(),
        ):
            self.stats.identity = read_site_identity(engine, conn)
            yield from self._chunks(conn, reader._chunk_size)
        self.stats.complete = True

    def _chunks(self, conn: sa.Connection, size: int) -> Iterator[SiteDevice | RejectedRecord]:
        after = -(2**31)
        while True:
            upper, count = conn.execute(chunk_bounds(self.scope, after, size)).one()
            if not count:
                return
            devices = conn.execute(device_rows(self.scope, after, upper)).all()
            members = conn.execute(membership_rows(after, upper)).all()
            self.stats.chunks += 1
            yield from self._merge(devices, members)
            if count < size:
                return
            after = upper

    def _merge(
        self, devices: list[sa.Row], members: list[sa.Row]
    ) -> Iterator[SiteDevice | RejectedRecord]:
        m, n_members = 0, len(members)
        previous = None
        for row in devices:
            rid = row[0]
            if rid == previous:
                # A second inventory row for one device (duplicate hardware
                # inventory): the first, in the read's order, wins.
                continue
            if not isinstance(rid, int):
                raise SiteReadFailed(f"v_R_System.ResourceID holds a non-integer value {rid!r}")
            previous = rid
            while m < n_members and members[m][0] < rid:
                m += 1
            start = m
            while m < n_members and members[m][0] == rid:
                m += 1
            collections = tuple(r[1] for r in members[start:m])
            yield self._record(row, collections)

    def _record(self, row: sa.Row, collections: tuple[str, ...]) -> SiteDevice | RejectedRecord:
        stats = self.stats
        stats.rows += 1
        values = row._mapping
        data: dict[str, Any] = dict(values)
        if data.pop("_has_health") is not None:
            data["health"] = {k: data.pop(k) for k in HEALTH_COLUMNS}
        if data.pop("_has_comanagement") is not None:
            data["comanagement"] = {k: data.pop(k) for k in COMANAGEMENT_COLUMNS}
        data["collections"] = collections
        data["content_hash"] = content_hash(tuple(row), collections)
        try:
            device = SiteDevice.model_validate(data)
        except ValidationError as exc:
            return self._reject(data, exc)
        stats.records += 1
        if device.obsolete:
            stats.obsolete += 1
        return device

    def _reject(self, data: dict[str, Any], exc: ValidationError) -> RejectedRecord:
        error = exc.errors(include_url=False)[0]
        code = error["type"]
        if code in _WRONG_TYPE_ERRORS:
            code = "wrong_type"
        elif code == "string_too_long":
            code = "too_long"
        column = ".".join(str(p) for p in error["loc"])
        self.stats.rejected += 1
        self.stats.rejects_by_reason[code] += 1
        smsid, name = data.get("SMS_Unique_Identifier0"), data.get("Name0")
        return RejectedRecord(
            resource_id=data.get("ResourceID") if isinstance(data.get("ResourceID"), int) else None,
            smsid=smsid if isinstance(smsid, str) else None,
            name=_printable(name),
            reason=code,
            column=_column_name(column),
            detail=error["msg"],
        )


def _printable(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch if ch.isprintable() else "\ufffd" for ch in value)
    return cleaned[:120] + ("…" if len(cleaned) > 120 else "")


def _column_name(loc: str) -> str:
    # Nested records report "health.LastActiveTime"; admins know the view.
    prefix, _, column = loc.partition(".")
    if prefix == "health":
        return f"v_CH_ClientSummary.{column}"
    if prefix == "comanagement":
        return f"v_ClientCoManagementState.{column}"
    return loc


__all__ = [
    "ClientHealth",
    "CoManagementState",
    "InventoryRead",
    "ReadScope",
    "ReadStats",
    "SiteCollection",
    "SiteReader",
    "content_hash",
]
