"""Engines for the cloud store and its migrations.

One URL names the store; the service uses its async form (aiosqlite or
psycopg's async mode) and Alembic its sync form. Nothing connects until used.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from workloads.errors import CobridgeError
from workloads.sql import (
    SqliteSetup,
    current_revision,
    ensure_sqlite_directory,
    install_sqlite_setup,
    postgresql_connect_args,
    server_pool_options,
    sqlite_file_url,
    upgrade_to_head,
    with_driver,
)

VERSION_TABLE = "cobridge_cloud_schema_version"
# Serialises migrations when several workers start at once on PostgreSQL.
_MIGRATION_LOCK = 0x636F6272  # "cobr"
# The drivers of the sync URL (Alembic) and of the async URL (the service).
_SYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite"}
_ASYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+aiosqlite"}
# The store's tables reference each other: SQLite enforces that only when asked.
# Transactions stay pysqlite's (and aiosqlite's).
_SQLITE = SqliteSetup(synchronous="NORMAL", foreign_keys=True)


class StoreConfigError(CobridgeError):
    """The store URL cannot be used."""

    code = "invalid_store_url"


def store_urls(db: str | None, data_dir: Path) -> tuple[sa.URL, sa.URL]:
    """The (sync, async) URLs of the store: `db` if given, else SQLite in `data_dir`."""
    if not db:
        path = data_dir / "cloud.db"
        return sqlite_file_url(path), sqlite_file_url(path, "sqlite+aiosqlite")
    try:
        url = sa.make_url(db)
    except sa.exc.ArgumentError as exc:
        raise StoreConfigError(
            f"cannot parse the store URL {db!r}", hint="use postgresql://user@host/db or omit --db"
        ) from exc
    sync_url, async_url = with_driver(url, _SYNC_DRIVERS), with_driver(url, _ASYNC_DRIVERS)
    if sync_url is not None and async_url is not None:
        return sync_url, async_url
    raise StoreConfigError(
        f"unsupported store type {url.get_backend_name()!r}",
        hint="the cloud store is PostgreSQL (postgresql://...) or SQLite (the default)",
    )


def create_store_engine(url: sa.URL, *, pool_size: int = 10) -> AsyncEngine:
    """The async engine the service works through."""
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        install_sqlite_setup(engine.sync_engine, _SQLITE)
        return engine
    return create_async_engine(
        url, **server_pool_options(pool_size, postgresql_connect_args("cobridge-cloud"))
    )


def migrate_store(sync_url: sa.URL) -> str:
    """Upgrade the store to the newest schema; return the revision now in place."""
    if sync_url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(sync_url)
    engine = sa.create_engine(sync_url)
    if sync_url.get_backend_name() == "sqlite":
        install_sqlite_setup(engine, _SQLITE)
    try:
        with engine.begin() as conn:
            upgrade_to_head(conn, "cloud.store:migrations", lock_key=_MIGRATION_LOCK)
            return current_revision(conn, VERSION_TABLE)
    finally:
        engine.dispose()
