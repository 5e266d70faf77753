"""Where repository statements run, and the helpers every repository shares.

A `Scope` is either the engine (each call runs in a transaction of its own)
or a caller's open transaction (calls join it, and commit or roll back with
it). Repositories are written once against a scope, so every operation can
be used alone or grouped atomically with others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bridge.state.engine import READ_OPTION, state_errors


class Scope:
    """A source of connections: the engine, or one transaction that calls join."""

    def __init__(self, engine: sa.Engine, conn: sa.Connection | None = None) -> None:
        self.engine = engine
        self._conn = conn
        self._reader = engine.execution_options(**{READ_OPTION: True})

    @property
    def in_transaction(self) -> bool:
        """Whether calls join a caller's transaction (rather than opening their own)."""
        return self._conn is not None

    @property
    def dialect(self) -> str:
        """The backend's dialect name: `sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self, action: str) -> Iterator[sa.Connection]:
        """A connection in a transaction that may write; commits at the end unless joined."""
        with state_errors(self.engine.url, action):
            if self._conn is not None:
                yield self._conn
                return
            with self.engine.begin() as conn:
                yield conn

    @contextlib.contextmanager
    def read(self, action: str) -> Iterator[sa.Connection]:
        """A connection in a transaction that only reads (never blocks writers on SQLite)."""
        with state_errors(self.engine.url, action):
            if self._conn is not None:
                yield self._conn
                return
            with self._reader.connect() as conn, conn.begin():
                yield conn


def insert_for(scope: Scope, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT supporting ON CONFLICT for the scope's backend."""
    if scope.dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def to_db(value: datetime) -> datetime:
    """A time as stored: naive UTC (a naive time passed in is taken as UTC already)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@overload
def from_db(value: datetime) -> datetime: ...
@overload
def from_db(value: None) -> None: ...
def from_db(value: datetime | None) -> datetime | None:
    """A stored time as handed out: aware, in UTC."""
    return None if value is None else value.replace(tzinfo=UTC)


def clean_text(value: str | None, limit: int) -> str | None:
    """Text a column can hold on every backend: no NUL (PostgreSQL refuses it), cut to `limit`."""
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """`items` in slices of at most `size` (bound parameters per statement stay modest)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
