"""Engines for the connector's state store, its migrations, and its error chokepoint.

SQLite (a WAL file in the connector's data directory) is the default;
PostgreSQL is used when a URL names it. Nothing connects until first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from bridge.state.errors import StateConfigError, StateError, StateUnavailable
from onprem.site_database import describe_url

VERSION_TABLE = "cobridge_connector_schema_version"
STATE_FILE = "connector-state.db"
# Connections of an engine carrying this option open read transactions.
READ_OPTION = "cobridge_read"
# Serialises migrations when an active and a standby connector start at once.
_MIGRATION_LOCK = 0x636F6273  # "cobs"


def state_url(db: str | None, data_dir: Path) -> sa.URL:
    """The URL of the state store: `db` if given, else a SQLite file in `data_dir`."""
    if not db:
        return sa.make_url(f"sqlite:///{(data_dir / STATE_FILE).resolve()}")
    try:
        url = sa.make_url(db)
        url.port  # noqa: B018 - a non-numeric port fails here, not at connect time
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise StateConfigError(
            f"cannot parse the connector state URL {db!r}",
            hint="use postgresql://user@host/db, or leave it unset for SQLite in the data directory",
        ) from exc
    backend = url.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url.set(drivername="sqlite")
    raise StateConfigError(
        f"unsupported connector state store {backend!r}",
        hint="the connector state is PostgreSQL (postgresql://...) or SQLite (the default)",
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged checkpoint survives a power cut, not only a crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Take transaction control from pysqlite, so that BEGIN is ours (below).
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]


def _sqlite_begin(conn: sa.Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads
    # and then writes can fail with SQLITE_BUSY without waiting, where another
    # process wrote in between (the lease and the counter rely on this).
    # Readers stay deferred so that a long streaming read never blocks writers.
    read = conn.get_execution_options().get(READ_OPTION, False)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def create_state_engine(url: sa.URL, *, pool_size: int = 5) -> sa.Engine:
    """An engine for the state store; SQLite files and their directory are created on use."""
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "cobridge-connector"},
    )


@contextlib.contextmanager
def state_errors(url: sa.URL, action: str) -> Iterator[None]:
    """The chokepoint: database failures while doing `action` become `StateError`s."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise StateUnavailable(
            f"the connector state in {describe_url(url)} failed while {action}: "
            f"{_first_line(exc.orig)}",
            hint="check that the database is reachable, not locked by another program, "
            "and has free space",
        ) from exc
    except sa_exc.DBAPIError as exc:
        raise StateError(
            f"the connector state in {describe_url(url)} refused {action}: {_first_line(exc.orig)}"
        ) from exc


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else type(error).__name__


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "bridge.state:migrations")
    config.attributes["connection"] = connection
    return config


def migrate_state(engine: sa.Engine) -> str:
    """Create or upgrade the state store to the newest schema; the revision now in place."""
    with state_errors(engine.url, "migrating the schema"), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        command.upgrade(_alembic_config(conn), "head")
        version = sa.table(VERSION_TABLE, sa.column("version_num"))
        return str(conn.execute(sa.select(version.c.version_num)).scalar_one())


def state_schema_revision(engine: sa.Engine) -> str | None:
    """The Alembic revision of the state store, or None when it was never migrated."""
    with state_errors(engine.url, "reading the schema revision"), engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        version = sa.table(VERSION_TABLE, sa.column("version_num"))
        return conn.execute(sa.select(version.c.version_num)).scalar()
