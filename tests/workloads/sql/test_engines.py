"""Each store's SQLite set-up through workloads.sql: the durability, keys and BEGIN each one chose."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from bridge.state.engine import READ_OPTION, create_state_engine, state_url
from cloud.store.engine import create_store_engine, store_urls
from onprem.site_database import create_site_engine
from workloads.sql import SqliteSetup, create_sqlite_engine, with_driver

# PRAGMA synchronous answers 1 for NORMAL and 2 for FULL.
NORMAL, FULL = 1, 2


def _pragmas(conn: sa.Connection) -> tuple[str, int, int, int]:
    return (
        conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
        conn.exec_driver_sql("PRAGMA synchronous").scalar_one(),
        conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one(),
        conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
    )


def _begins(engine: sa.Engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_connector_state_is_full_and_writers_begin_immediate(tmp_path: Path) -> None:
    engine = create_state_engine(state_url(None, tmp_path / "data"))
    try:
        seen = _begins(engine)
        with engine.begin() as conn:
            assert _pragmas(conn) == ("wal", FULL, 30000, 0)
        with engine.execution_options(**{READ_OPTION: True}).begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN"]
    finally:
        engine.dispose()


def test_site_database_is_normal_and_begins_deferred(tmp_path: Path) -> None:
    engine = create_site_engine(str(tmp_path / "site" / "site.db"))
    try:
        seen = _begins(engine)
        with engine.begin() as conn:
            assert _pragmas(conn) == ("wal", NORMAL, 30000, 0)
        assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN"]
        assert isinstance(engine.pool, sa.pool.NullPool)
    finally:
        engine.dispose()


def test_cloud_store_is_normal_with_foreign_keys_and_pysqlite_transactions(
    tmp_path: Path,
) -> None:
    _, async_url = store_urls(None, tmp_path / "cloud")
    engine = create_store_engine(async_url)

    async def read() -> tuple[tuple[str, int, int, int], object]:
        async with engine.connect() as conn:
            pragmas = await conn.run_sync(_pragmas)
            raw = await conn.get_raw_connection()
            return pragmas, raw.driver_connection._conn.isolation_level  # type: ignore[union-attr]

    try:
        pragmas, isolation = asyncio.run(read())
    finally:
        asyncio.run(engine.dispose())
    assert pragmas == ("wal", NORMAL, 30000, 1)
    assert isolation is not None  # pysqlite keeps transaction control


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg"),
        ("sqlite+pysqlite:///x.db", "sqlite"),
        ("mysql://u@h/db", None),
    ],
)
def test_with_driver_sets_the_store_driver_per_backend(url: str, expected: str | None) -> None:
    found = with_driver(sa.make_url(url), {"postgresql": "postgresql+psycopg", "sqlite": "sqlite"})
    assert (found.drivername if found is not None else None) == expected


def test_memory_databases_need_no_directory() -> None:
    engine = create_sqlite_engine(sa.make_url("sqlite://"), SqliteSetup(synchronous="NORMAL"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == NORMAL
    engine.dispose()
