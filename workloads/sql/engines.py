"""Engine set-up: SQLite pragmas and transaction control, server pools.

Each store states its own `SqliteSetup` (how durable a commit must be,
whether foreign keys are enforced, who issues BEGIN) and its own pool size
and application name; the mechanics are here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event

# Seconds a SQLite connection waits for another writer's lock, as the driver's
# timeout and as busy_timeout (milliseconds) for statements.
SQLITE_LOCK_WAIT = 30


@dataclass(frozen=True)
class SqliteSetup:
    """How a store's SQLite connections are set up.

    Every store uses WAL (a reader streams while another process writes) and
    waits up to 30 s for a lock. `begin` None leaves transactions to
    pysqlite, which defers BEGIN until the first write; "deferred" and
    "immediate" take transaction control from it, so that a read transaction
    is one consistent snapshot. With "immediate", writers take the write lock
    up front, and connections whose execution options carry `read_option`
    begin deferred.
    """

    synchronous: Literal["NORMAL", "FULL"]
    foreign_keys: bool = False
    begin: Literal["deferred", "immediate"] | None = None
    read_option: str | None = None


def install_sqlite_setup(engine: sa.Engine, setup: SqliteSetup) -> None:
    """Apply `setup` to every connection `engine` opens (a sync engine or an async one's)."""
    event.listen(engine, "connect", _pragmas(setup))
    if setup.begin is not None:
        event.listen(engine, "begin", _begin(setup))


def _pragmas(setup: SqliteSetup) -> Callable[[Any, object], None]:
    def on_connect(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={setup.synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_LOCK_WAIT * 1000}")
        if setup.foreign_keys:
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if setup.begin is not None:
            # Take transaction control from pysqlite, so that BEGIN is ours.
            dbapi_connection.isolation_level = None

    return on_connect


def _begin(setup: SqliteSetup) -> Callable[[sa.Connection], None]:
    def on_begin(conn: sa.Connection) -> None:
        if setup.begin == "deferred":
            conn.exec_driver_sql("BEGIN")
            return
        read = bool(setup.read_option) and conn.get_execution_options().get(
            setup.read_option, False
        )
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return on_begin


def ensure_sqlite_directory(url: sa.URL) -> None:
    """Create the directory of a SQLite file URL (nothing for memory databases)."""
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def create_sqlite_engine(url: sa.URL, setup: SqliteSetup, **options: Any) -> sa.Engine:
    """A sync engine on a SQLite URL with `setup` applied; `options` go to create_engine."""
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_LOCK_WAIT}, **options)
    install_sqlite_setup(engine, setup)
    return engine


def postgresql_connect_args(application_name: str) -> dict[str, Any]:
    """Connect arguments of a PostgreSQL engine: a 10 s connect timeout and a name in pg_stat_activity."""
    return {"connect_timeout": 10, "application_name": application_name}


def server_pool_options(
    pool_size: int, connect_args: dict[str, Any], *, overflow: bool = True
) -> dict[str, Any]:
    """Pool options of an engine on a database server; connections are checked before use.

    With `overflow`, up to `pool_size` more connections open under load;
    without it, SQLAlchemy's default overflow applies.
    """
    options: dict[str, Any] = {
        "pool_size": pool_size,
        "pool_pre_ping": True,
        "connect_args": connect_args,
    }
    if overflow:
        options["max_overflow"] = pool_size
    return options
