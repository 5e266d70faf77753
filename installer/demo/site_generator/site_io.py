"""Reading and writing site tables in bulk: emptiness checks, inserts, keyed reads and updates."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from installer.demo.site_generator.rows import DeviceRows
from onprem.site_schema import site_metadata

BATCH_IDS = 500  # ResourceIDs per IN (...) list, well under every driver's parameter limit
FAST_WRITES = True  # False forces the plain Core executemany (tests compare the two)


def site_is_empty(conn: sa.Connection) -> bool:
    """Whether no site table holds a row."""
    for table in site_metadata.sorted_tables:
        if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
            return False
    return True


def clear_site(conn: sa.Connection) -> None:
    """Delete every row of every site table (the schema stays)."""
    for table in reversed(site_metadata.sorted_tables):
        conn.execute(table.delete())


class _TableWriter:
    """Inserts dict rows into one table in one round of driver calls.

    SQLAlchemy's per-row parameter handling is most of the seeding time, so
    two drivers get a shortcut that stores exactly what
    `conn.execute(table.insert(), rows)` would: on SQLite (qmark parameters)
    an executemany of tuples after the column types' own bind processors;
    on PostgreSQL with psycopg (no bind processors for these types) a COPY.
    Any other driver takes the plain Core executemany.
    """

    def __init__(self, table: sa.Table, dialect: sa.Dialect) -> None:
        self.table = table
        keys = [c.key for c in table.columns]
        self.get = operator.itemgetter(*keys)
        self.processors = [
            (i, _faster(c, p))
            for i, c in enumerate(table.columns)
            if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        self.mode, self.sql = "core", ""
        if FAST_WRITES and dialect.paramstyle == "qmark":
            self.mode = "qmark"
            self.sql = str(table.insert().compile(dialect=dialect, column_keys=keys))
        elif FAST_WRITES and dialect.driver == "psycopg" and not self.processors:
            self.mode = "copy"
            quote = dialect.identifier_preparer.quote
            columns = ", ".join(quote(c.name) for c in table.columns)
            self.sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"

    def write(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.mode == "core":
            conn.execute(self.table.insert(), rows)
            return
        if self.mode == "copy":
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                with cursor.copy(self.sql) as copy:
                    for row in rows:
                        copy.write_row(self.get(row))
            finally:
                cursor.close()
            return
        get, processors = self.get, self.processors
        if not processors:
            conn.exec_driver_sql(self.sql, [get(row) for row in rows])
            return
        params = []
        for row in rows:
            values = list(get(row))
            for i, process in processors:
                if values[i] is not None:
                    values[i] = process(values[i])
            params.append(tuple(values))
        conn.exec_driver_sql(self.sql, params)


_ISO = operator.methodcaller("isoformat", " ", "microseconds")
_SAMPLES = (
    datetime(1601, 1, 1),
    datetime(1700, 2, 1, 3, 4, 5),
    datetime(2999, 12, 31, 23, 59, 59, 7),
)


def _faster(column: sa.Column[Any], process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`datetime.isoformat` where it writes what the dialect's processor writes, else `process`."""
    if isinstance(column.type, sa.DateTime) and all(process(d) == _ISO(d) for d in _SAMPLES):
        return _ISO
    return process


class DeviceWriter:
    """Writes the rows of many devices, one executemany per table."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.writers = {t.name: _TableWriter(t, dialect) for t in site_metadata.sorted_tables}

    def write(self, conn: sa.Connection, devices: list[DeviceRows]) -> None:
        """Insert every row of `devices` on `conn` (inside the caller's transaction)."""
        if not devices:
            return
        self.writers["v_R_System"].write(conn, [d.system for d in devices])
        by_table: dict[str, list[dict[str, Any]]] = {}
        for d in devices:
            for name, row in d.inventory.items():
                by_table.setdefault(name, []).append(row)
        for name, rows in by_table.items():
            self.writers[name].write(conn, rows)
        memberships = [m for d in devices for m in d.memberships]
        self.writers["v_FullCollectionMembership"].write(conn, memberships)


def batches(values: Sequence[int]) -> Iterator[list[int]]:
    """`values` in lists short enough for one IN (...) each."""
    for start in range(0, len(values), BATCH_IDS):
        yield list(values[start : start + BATCH_IDS])


def rows_by_id(
    conn: sa.Connection, table: sa.Table, columns: list[str], ids: Sequence[int]
) -> dict[int, sa.Row[Any]]:
    """The ResourceID and `columns` of the rows of `table` whose ResourceID is in `ids`."""
    cols = [table.c.ResourceID, *(table.c[c] for c in columns)]
    found: dict[int, sa.Row[Any]] = {}
    for batch in batches(ids):
        for row in conn.execute(sa.select(*cols).where(table.c.ResourceID.in_(batch))):
            found[row.ResourceID] = row
    return found


def update_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Executemany UPDATE by ResourceID; every row in `rows` sets the same columns."""
    if not rows:
        return
    columns = [k for k in rows[0] if k != "ResourceID"]
    statement = (
        sa.update(table)
        .where(table.c.ResourceID == sa.bindparam("_rid"))
        .values({c: sa.bindparam(f"_v_{c}") for c in columns})
    )
    params = [{"_rid": r["ResourceID"], **{f"_v_{c}": r[c] for c in columns}} for r in rows]
    conn.execute(statement, params)
