"""Engines for the connector's state store, its migrations, and its error chokepoint.

SQLite (a WAL file in the connector's data directory) is the default;
PostgreSQL is used when a URL names it. Nothing connects until first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy import exc as sa_exc

from bridge.state.errors import StateConfigError, StateError, StateUnavailable
from workloads.sql import (
    SqliteSetup,
    alembic_config,
    create_sqlite_engine,
    current_revision,
    describe_url,
    ensure_sqlite_directory,
    postgresql_connect_args,
    recorded_revision,
    server_pool_options,
    sqlite_file_url,
    upgrade_to_head,
    with_driver,
)

# Where the Alembic revisions of this store live.
MIGRATIONS = "bridge.state:migrations"
VERSION_TABLE = "cobridge_connector_schema_version"
STATE_FILE = "connector-state.db"
# Connections of an engine carrying this option open read transactions.
READ_OPTION = "cobridge_read"
# Serialises migrations when an active and a standby connector start at once.
_MIGRATION_LOCK = 0x636F6273  # "cobs"
# The driver the state store uses for each backend it accepts.
_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "sqlite": "sqlite",
}


def state_url(db: str | None, data_dir: Path) -> sa.URL:
    """The URL of the state store: `db` if given, else a SQLite file in `data_dir`."""
    if not db:
        return sqlite_file_url(data_dir / STATE_FILE)
    try:
        url = sa.make_url(db)
        url.port  # noqa: B018 - a non-numeric port fails here, not at connect time
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise StateConfigError(
            f"cannot parse the connector state URL {db!r}",
            hint="use postgresql://user@host/db, or leave it unset for SQLite in the data directory",
        ) from exc
    normalised = with_driver(url, _DRIVERS)
    if normalised is not None:
        return normalised
    raise StateConfigError(
        f"unsupported connector state store {url.get_backend_name()!r}",
        hint="the connector state is PostgreSQL (postgresql://...) or SQLite (the default)",
    )


# FULL: an acknowledged checkpoint survives a power cut, not only a crash.
# Writers take the write lock up front: a deferred transaction that reads and
# then writes can fail with SQLITE_BUSY without waiting, where another process
# wrote in between (the lease and the counter rely on this). Readers stay
# deferred so that a long streaming read never blocks writers.
_SQLITE = SqliteSetup(synchronous="FULL", begin="immediate", read_option=READ_OPTION)


def create_state_engine(url: sa.URL, *, pool_size: int = 5) -> sa.Engine:
    """An engine for the state store; SQLite files and their directory are created on use."""
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        return create_sqlite_engine(url, _SQLITE)
    return sa.create_engine(
        url,
        **server_pool_options(pool_size, postgresql_connect_args("cobridge-connector")),
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


# The configuration of this store's migrations on `connection` (the migration tests step
# revisions down and up with it).
def _alembic_config(connection: sa.Connection) -> Config:
    return alembic_config(connection, MIGRATIONS)


def migrate_state(engine: sa.Engine) -> str:
    """Create or upgrade the state store to the newest schema; the revision now in place."""
    with state_errors(engine.url, "migrating the schema"), engine.begin() as conn:
        upgrade_to_head(conn, MIGRATIONS, lock_key=_MIGRATION_LOCK)
        return current_revision(conn, VERSION_TABLE)


def state_schema_revision(engine: sa.Engine) -> str | None:
    """The Alembic revision of the state store, or None when it was never migrated."""
    with state_errors(engine.url, "reading the schema revision"), engine.connect() as conn:
        return recorded_revision(conn, VERSION_TABLE)
