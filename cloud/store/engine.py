"""Engines for the cloud store and its migrations.

One URL names the store; the service uses its async form (aiosqlite or
psycopg's async mode) and Alembic its sync form. Nothing connects until used.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from workloads.errors import CobridgeError

VERSION_TABLE = "cobridge_cloud_schema_version"
# Serialises migrations when several workers start at once on PostgreSQL.
_MIGRATION_LOCK = 0x636F6272  # "cobr"


class StoreConfigError(CobridgeError):
    """The store URL cannot be used."""

    code = "invalid_store_url"


def store_urls(db: str | None, data_dir: Path) -> tuple[sa.URL, sa.URL]:
    """The (sync, async) URLs of the store: `db` if given, else SQLite in `data_dir`."""
    if not db:
        path = (data_dir / "cloud.db").resolve()
        return sa.make_url(f"sqlite:///{path}"), sa.make_url(f"sqlite+aiosqlite:///{path}")
    try:
        url = sa.make_url(db)
    except sa.exc.ArgumentError as exc:
        raise StoreConfigError(
            f"cannot parse the store URL {db!r}", hint="use postgresql://user@host/db or omit --db"
        ) from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
        return url, url
    if backend == "sqlite":
        return url.set(drivername="sqlite"), url.set(drivername="sqlite+aiosqlite")
    raise StoreConfigError(
        f"unsupported store type {backend!r}",
        hint="the cloud store is PostgreSQL (postgresql://...) or SQLite (the default)",
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_store_engine(url: sa.URL, *, pool_size: int = 10) -> AsyncEngine:
    """The async engine the service works through."""
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "cobridge-cloud"},
    )


def migrate_store(sync_url: sa.URL) -> str:
    """Upgrade the store to the newest schema; return the revision now in place."""
    if sync_url.get_backend_name() == "sqlite" and sync_url.database:
        Path(sync_url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(sync_url)
    if sync_url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            config = Config()
            config.set_main_option("script_location", "cloud.store:migrations")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            version = sa.table(VERSION_TABLE, sa.column("version_num"))
            return str(conn.execute(sa.select(version.c.version_num)).scalar_one())
    finally:
        engine.dispose()
