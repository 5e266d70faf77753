"""Read computer objects from Active Directory: full reads and deltas.

A full read checks that every base DN exists, takes the starting cursor
(before reading, so a change made during the read shows again in the next
delta: at least once, never lost), then pages through each base DN, yielding
records and rejects. A read that finds nothing at all is an error, like a
missing base DN: neither may ever look like "the computers are gone".

A delta finds what changed since a cursor (DirSync, or `uSNChanged` above
the cursor's USN, both over the whole domain partition), then reads the
current state of each changed object by GUID through the configured filter.
Changed objects still in scope are `changed`; tombstones whose last parent
was in scope are `deleted`; objects that moved out of the base DNs or no
longer match the filter are `left_scope` (by GUID: it may name objects the
caller never held, which it ignores).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from onprem.directory.config import DEFAULT_FILTER, DirectoryConfig, dn_key, is_under
from onprem.directory.connection import DirectoryConnection
from onprem.directory.cursor import DirectoryCursor, check_cursor
from onprem.directory.records import ATTRIBUTES, DirectoryRecord, DirectoryReject, parse_entry
from onprem.errors import DirectoryEmptyRead, DirectoryReadFailed

Item = DirectoryRecord | DirectoryReject
# Changes are found among all computers; the configured filter applies when their
# current state is read (so an object that stops matching it is noticed).
_CHANGE_FILTER = "(objectClass=computer)"
# Nothing matches this, yet DirSync still answers with a cookie for "now".
_NOTHING = "(&(objectClass=computer)(!(objectClass=computer)))"
_GUIDS_PER_SEARCH = 100


@dataclass
class DirectoryDelta:
    """What changed in scope since a cursor, and the cursor to store once it is applied."""

    changed: list[DirectoryRecord]
    deleted: list[DirectoryRecord]
    left_scope: list[uuid.UUID]
    rejects: list[DirectoryReject]
    cursor: DirectoryCursor


@dataclass
class FullRead:
    """An iterable full read; `cursor` is available once it has been read to the end."""

    config: DirectoryConfig
    records: int = 0
    rejects: int = 0
    _cursor: DirectoryCursor | None = field(default=None, repr=False)

    @property
    def cursor(self) -> DirectoryCursor:
        """The cursor for the next delta; `DirectoryReadFailed` if the read did not complete."""
        if self._cursor is None:
            raise DirectoryReadFailed("the directory read did not complete: it has no cursor")
        return self._cursor

    def __iter__(self) -> Iterator[Item]:
        config = self.config
        with DirectoryConnection.open(config) as conn:
            identity = conn.identity()
            for base in config.base_dns:
                conn.require_base(base)
            cookie = None
            if config.delta == "dirsync":
                for item in conn.dirsync(identity.naming_context, _NOTHING, ["name"], None):
                    if isinstance(item, bytes):
                        cookie = item
            start = DirectoryCursor.at(
                identity, kind=config.delta, scope=config.scope(), cookie=cookie
            )
            for base in config.base_dns:
                for dn, raw in conn.paged(base, config.filter, ATTRIBUTES):
                    item = parse_entry(dn, raw)
                    if isinstance(item, DirectoryRecord):
                        self.records += 1
                    else:
                        self.rejects += 1
                    yield item
            if not self.records and not self.rejects:
                raise DirectoryEmptyRead(
                    f"no object below {', '.join(config.base_dns)} matches {config.filter}",
                    hint="check base_dns and filter; an empty read never deletes anything",
                )
            self._cursor = start


class DirectoryReader:
    """Reads computer objects as configured; each call opens its own connection."""

    def __init__(self, config: DirectoryConfig) -> None:
        self.config = config

    def read_full(self) -> FullRead:
        """A full read, streamed: iterate it, then take its `cursor`."""
        return FullRead(self.config)

    def read_delta(self, cursor: DirectoryCursor) -> DirectoryDelta:
        """Changes since `cursor`; `DirectoryResyncRequired` if it cannot be used."""
        config = self.config
        with DirectoryConnection.open(config) as conn:
            identity = conn.identity()
            check_cursor(cursor, identity, kind=config.delta, scope=config.scope())
            for base in config.base_dns:
                conn.require_base(base)
            changes = _Changes()
            if cursor.kind == "dirsync":
                cookie = changes.from_dirsync(conn, identity.naming_context, cursor.cookie)
                after = DirectoryCursor.at(
                    identity, kind="dirsync", scope=cursor.scope, cookie=cookie
                )
            else:
                complete = config.filter == DEFAULT_FILTER
                changes.since_usn(conn, identity.naming_context, cursor.highest_usn, complete)
                after = DirectoryCursor.at(identity, kind="usn", scope=cursor.scope)
            unread = [guid for guid, item in changes.live.items() if item is None]
            changes.live.update(_current(conn, identity.naming_context, config.filter, unread))
            return _classify(config, changes, after)


@dataclass
class _Changes:
    """Changed objects by GUID (None: current state not read yet), tombstones, rejects."""

    live: dict[uuid.UUID, Item | None] = field(default_factory=dict)
    tombstones: list[DirectoryRecord] = field(default_factory=list)
    rejects: list[DirectoryReject] = field(default_factory=list)

    def add(self, dn: str, raw: dict[str, Any], *, complete: bool) -> None:
        item = parse_entry(dn, raw)
        guid = _guid(raw)
        if isinstance(item, DirectoryRecord) and item.deleted:
            self.tombstones.append(item)
        elif isinstance(item, DirectoryReject) and (guid is None or raw.get("isDeleted")):
            self.rejects.append(item)
        elif guid is not None:
            self.live[guid] = item if complete else None

    def from_dirsync(
        self, conn: DirectoryConnection, nc: str, cookie: bytes | None
    ) -> bytes | None:
        """Collect DirSync's changes since `cookie`; returns the new cookie."""
        for entry in conn.dirsync(nc, _CHANGE_FILTER, ATTRIBUTES, cookie):
            if isinstance(entry, bytes):
                cookie = entry
            else:
                # DirSync sends only the attributes that changed: never complete.
                self.add(*entry, complete=False)
        return cookie

    def since_usn(self, conn: DirectoryConnection, nc: str, usn: int, complete: bool) -> None:
        """Collect objects (and tombstones) whose uSNChanged is above `usn`."""
        since = f"(&{_CHANGE_FILTER}(uSNChanged>={usn + 1}))"
        for dn, raw in conn.paged(nc, since, ATTRIBUTES, deleted=True):
            self.add(dn, raw, complete=complete)


def _classify(config: DirectoryConfig, changes: _Changes, after: DirectoryCursor) -> DirectoryDelta:
    bases = [dn_key(dn) for dn in config.base_dns]

    def in_scope(dn: str | None) -> bool:
        return bool(dn) and any(is_under(dn_key(dn), b) for b in bases)

    delta = DirectoryDelta([], [], [], list(changes.rejects), after)
    delta.deleted = [t for t in changes.tombstones if in_scope(t.last_known_parent)]
    for guid, item in changes.live.items():
        if isinstance(item, DirectoryReject):
            if in_scope(item.dn):
                delta.rejects.append(item)
        elif item is not None and in_scope(item.dn):
            delta.changed.append(item)
        else:
            delta.left_scope.append(guid)
    return delta


def _guid(raw: dict[str, Any]) -> uuid.UUID | None:
    value = (raw.get("objectGUID") or [b""])[0]
    return uuid.UUID(bytes_le=value) if len(value) == 16 else None


def _current(
    conn: DirectoryConnection, nc: str, search_filter: str, guids: list[uuid.UUID]
) -> dict[uuid.UUID, Item | None]:
    """The current state of `guids`: a record or reject if it matches `search_filter`, else None."""
    found: dict[uuid.UUID, Item | None] = dict.fromkeys(guids)
    for start in range(0, len(guids), _GUIDS_PER_SEARCH):
        chunk = guids[start : start + _GUIDS_PER_SEARCH]
        terms = "".join(f"(objectGUID={_escaped(g)})" for g in chunk)
        for dn, raw in conn.paged(nc, f"(&{search_filter}(|{terms}))", ATTRIBUTES):
            guid = _guid(raw)
            if guid in found:
                found[guid] = parse_entry(dn, raw)
    return found


def _escaped(guid: uuid.UUID) -> str:
    return "".join(f"\\{b:02x}" for b in guid.bytes_le)
