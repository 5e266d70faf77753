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
import marshal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError

from onprem.errors import SiteReadFailed
from onprem.prefetch import Prefetched
from onprem.site_database import site_errors
from onprem.site_records import (
    COLUMN_RULES,
    ClientHealth,
    CoManagementState,
    RejectedRecord,
    SiteDevice,
)
from onprem.site_schema import (
    v_CH_ClientSummary,
    v_ClientCoManagementState,
    v_GS_COMPUTER_SYSTEM,
    v_GS_OPERATING_SYSTEM,
    v_GS_PC_BIOS,
)
from onprem.site_statements import (
    ReadScope,
    chunk_bounds,
    collection_rows,
    device_rows,
    membership_rows,
)
from onprem.site_store import SiteIdentity, read_site_identity, require_site_schema
from onprem.site_values import classify

# Bump when the hashed content changes shape: every device then uploads once.
HASH_VERSION = "1"

# Fallback codes for failures no Python rule explains (should not happen).
_PYDANTIC_CODES = {
    "int_type": "wrong_type",
    "int_parsing": "wrong_type",
    "string_type": "wrong_type",
    "datetime_type": "wrong_type",
    "datetime_parsing": "wrong_type",
    "bool_type": "wrong_type",
    "string_too_long": "too_long",
    "string_pattern_mismatch": "invalid_value",
    "missing": "empty_value",
}

# Columns outside v_R_System are named with their view, as admins look them up.
COLUMN_VIEWS = {
    column.name: view.name
    for view in (
        v_GS_OPERATING_SYSTEM,
        v_GS_COMPUTER_SYSTEM,
        v_GS_PC_BIOS,
        v_CH_ClientSummary,
        v_ClientCoManagementState,
    )
    for column in view.columns
    if column.name != "ResourceID"
}


_validate_device = SiteDevice.__pydantic_validator__.validate_python


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
    try:
        # marshal format 2 has no back-references, so equal values always
        # serialise alike, whatever their identity. It takes str, int, None.
        blob = marshal.dumps((HASH_VERSION, values, collections), 2)
    except ValueError:
        # Drivers other than SQLite's return datetimes (and the like).
        blob = marshal.dumps((HASH_VERSION, tuple(map(_plain, values)), collections), 2)
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


class SiteReader:
    """Reads the inventory of one site database through its documented views."""

    def __init__(
        self, engine: sa.Engine, *, chunk_size: int = 5000, prefetch: bool | None = None
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._engine = engine
        self._chunk_size = chunk_size
        # Over a network the next chunk's fetch overlaps this one's validation.
        # SQLite's driver gives up the GIL on every row step, so a second thread
        # only contends for it: there one thread does both.
        self._prefetch = engine.dialect.name != "sqlite" if prefetch is None else prefetch

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
        # Rows come straight from the DB-API cursor of this read's transaction:
        # the site drivers return native values, and the validator does the
        # rest, so SQLAlchemy's per-row Result machinery would be pure cost.
        # Statements are compiled with literal values (integers, and a
        # collection id validated by ReadScope).
        dialect = conn.dialect
        cursor = conn.connection.cursor()

        def fetch(statement: sa.Select) -> tuple[list[str], list[Any]]:
            sql = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            cursor.execute(str(sql))
            return [d[0] for d in cursor.description], cursor.fetchall()

        def chunks() -> Iterator[tuple[list[str], list[Any], list[Any]]]:
            after = -(2**31)
            while True:
                _, [(upper, count)] = fetch(chunk_bounds(self.scope, after, size))
                if not count:
                    return
                names, devices = fetch(device_rows(self.scope, after, upper))
                _, members = fetch(membership_rows(after, upper))
                yield names, devices, members
                if count < size:
                    return
                after = upper

        try:
            if not self._reader._prefetch:
                for names, devices, members in chunks():
                    self.stats.chunks += 1
                    yield from self._merge(names, devices, members)
                return
            with Prefetched(chunks, depth=1, name="site-read") as ahead:
                for names, devices, members in ahead:
                    self.stats.chunks += 1
                    yield from self._merge(names, devices, members)
        finally:
            cursor.close()

    def _merge(
        self, names: list[str], devices: list[Any], members: list[Any]
    ) -> Iterator[SiteDevice | RejectedRecord]:
        # The hot loop of every sync: kept flat, with locals, on purpose.
        validate = _validate_device
        stats = self.stats
        m, n_members = 0, len(members)
        previous = None
        for row in devices:
            rid = row[0]
            if rid == previous:
                # A second inventory row for one device (duplicate hardware
                # inventory): the first, in the read's order, wins.
                continue
            if rid.__class__ is not int:
                raise SiteReadFailed(f"v_R_System.ResourceID holds a non-integer value {rid!r}")
            previous = rid
            while m < n_members and members[m][0] < rid:
                m += 1
            start = m
            while m < n_members and members[m][0] == rid:
                m += 1
            collections = tuple([r[1] for r in members[start:m]])
            values = row if row.__class__ is tuple else tuple(row)
            data: dict[str, Any] = dict(zip(names, values))  # noqa: B905 - one cursor, one width
            data["collections"] = collections
            data["content_hash"] = content_hash(values, collections)
            stats.rows += 1
            try:
                device = validate(data)
            except ValidationError as exc:
                yield self._reject(data, exc)
                continue
            stats.records += 1
            if device.obsolete:
                stats.obsolete += 1
            yield device

    def _reject(self, data: dict[str, Any], exc: ValidationError) -> RejectedRecord:
        error = exc.errors(include_url=False)[0]
        column = str(error["loc"][0]) if error["loc"] else "?"
        kind = COLUMN_RULES.get(column)
        # The native check said no; the Python rule of the column says why.
        precise = classify(kind, data.get(column)) if kind else None
        if precise is not None:
            code, detail = precise
        else:
            code = _PYDANTIC_CODES.get(error["type"], "invalid_value")
            detail = error["msg"]
        self.stats.rejected += 1
        self.stats.rejects_by_reason[code] += 1
        rid, smsid, name = (
            data.get("ResourceID"),
            data.get("SMS_Unique_Identifier0"),
            data.get("Name0"),
        )
        return RejectedRecord(
            resource_id=rid if isinstance(rid, int) else None,
            smsid=smsid if isinstance(smsid, str) else None,
            name=_printable(name),
            reason=code,
            column=f"{COLUMN_VIEWS[column]}.{column}" if column in COLUMN_VIEWS else column,
            detail=detail,
        )


def _printable(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch if ch.isprintable() else "\ufffd" for ch in value)
    return cleaned[:120] + ("…" if len(cleaned) > 120 else "")


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
