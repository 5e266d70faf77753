"""Alembic runs on a connection the caller holds, and the revision a store records."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config


def alembic_config(conn: sa.Connection, script_location: str) -> Config:
    """An Alembic configuration whose migrations run on `conn`, inside its transaction.

    Each store's env.py takes the connection from `config.attributes`.
    """
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = conn
    return config


def upgrade_to_head(
    conn: sa.Connection, script_location: str, *, lock_key: int | None = None
) -> None:
    """Upgrade the schema behind `conn` to the newest revision of `script_location`.

    With `lock_key`, a PostgreSQL transaction-level advisory lock on that key
    is taken first, so that processes starting at once migrate one after the
    other; it is released when the caller's transaction ends.
    """
    if lock_key is not None and conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    command.upgrade(alembic_config(conn, script_location), "head")


def current_revision(conn: sa.Connection, version_table: str) -> str:
    """The revision recorded in `version_table`, which must hold one."""
    version = sa.table(version_table, sa.column("version_num"))
    return str(conn.execute(sa.select(version.c.version_num)).scalar_one())


def recorded_revision(conn: sa.Connection, version_table: str) -> str | None:
    """The revision recorded in `version_table`, or None when the store was never migrated."""
    if not sa.inspect(conn).has_table(version_table):
        return None
    version = sa.table(version_table, sa.column("version_num"))
    return conn.execute(sa.select(version.c.version_num)).scalar()
