"""SQL helpers shared by the embedded site's co-management tables: times, upserts, write locks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")
CHUNK = 500  # values per IN (...) list or multi-row insert, under every driver's limit


def to_db(moment: datetime) -> datetime:
    """A time as stored: naive UTC (a naive time passed in is taken as UTC already)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def from_db(moment: datetime) -> datetime:
    """A stored time as handed out: aware, in UTC."""
    return moment.replace(tzinfo=UTC)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


# Rows go as parameters of one statement (executemany): its compiled form is
# cached, where a statement with the rows as literal VALUES is compiled anew
# each call (more than half the gate's time in a profile of 1,000 commands).


def insert_missing(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the `rows` whose primary key is not in `table` yet; leave existing rows alone."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows))


def upsert(
    conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str]
) -> None:
    """Insert `rows`, replacing the other columns of rows whose `key` already exists."""
    if not rows:
        return
    statement = _insert(conn, table)
    changes = {c: statement.excluded[c] for c in rows[0] if c not in key}
    conn.execute(
        statement.on_conflict_do_update(index_elements=list(key), set_=changes), list(rows)
    )


def serialize_writers(conn: sa.Connection, table: sa.Table) -> None:
    """Make the current transaction the only writer of `table` until it ends.

    On PostgreSQL a lock on the table that readers pass and writers queue for.
    On SQLite a write that changes nothing: it takes the database's write lock
    before anything is read (what BEGIN IMMEDIATE does; the site engine begins
    deferred), so a read-then-write transaction never fails with a busy
    snapshot and waits its turn instead.
    """
    if conn.dialect.name == "postgresql":
        name = conn.dialect.identifier_preparer.format_table(table)
        conn.exec_driver_sql(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE")
    else:
        conn.execute(table.delete().where(sa.false()))
