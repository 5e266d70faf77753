"""B5, site part: site database -> device records, beside a raw driver fetch of the same rows.

Targets (DESIGN.md section 14): reader <= 2x the raw fetch; peak RSS flat as
the site grows (compare 100k with 700k under --large).
SQLite always; PostgreSQL too when COBRIDGE_BENCH_PG_URL names a server.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bench.measure import Measurement, measure, report
from installer.demo.site_generator import seed_site
from onprem.site_database import create_site_engine
from onprem.site_reader import ReadScope, SiteReader
from onprem.site_schema import v_R_System
from onprem.site_statements import chunk_bounds, device_rows, membership_rows
from onprem.site_store import migrate_site

AS_OF = datetime(2026, 11, 1)
CHUNK = 5000


def read_records(url: str) -> int:
    """The product path: every row becomes a validated record or a reject."""
    engine = create_site_engine(url)
    try:
        return sum(1 for _ in SiteReader(engine, chunk_size=CHUNK).read())
    finally:
        engine.dispose()


def raw_fetch_same_queries(url: str) -> int:
    """The baseline: the reader's own chunked statements through the bare DB-API cursor."""
    engine = create_site_engine(url)
    scope = ReadScope()

    def sql(statement: sa.Select) -> str:
        return str(
            statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        )

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        after, rows = -(2**31), 0
        while True:
            cursor.execute(sql(chunk_bounds(scope, after, CHUNK)))
            upper, count = cursor.fetchone()
            if not count:
                break
            cursor.execute(sql(device_rows(scope, after, upper)))
            rows += len(cursor.fetchall())
            cursor.execute(sql(membership_rows(after, upper)))
            cursor.fetchall()
            if count < CHUNK:
                break
            after = upper
        return rows
    finally:
        raw.close()
        engine.dispose()


def _seeded(url: str, devices: int) -> str:
    engine = create_site_engine(url)
    try:
        migrate_site(engine)
        with engine.connect() as conn:
            present = conn.execute(sa.select(sa.func.count()).select_from(v_R_System)).scalar_one()
        if present != devices:
            started = time.perf_counter()
            print(
                f"  seeding {devices:,} devices into {engine.url.render_as_string(hide_password=True)} ..."
            )
            seed_site(engine, devices=devices, seed=1, as_of=AS_OF, replace=True)
            print(f"  seeded in {time.perf_counter() - started:.1f} s")
    finally:
        engine.dispose()
    return url


def _pg_url(devices: int) -> str | None:
    base = os.environ.get("COBRIDGE_BENCH_PG_URL")
    if not base:
        return None
    url = sa.make_url(base).set(drivername="postgresql+psycopg")
    name = f"cobridge_bench_site_{devices}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _one(backend: str, url: str, devices: int) -> Measurement:
    _seeded(url, devices)
    reader = measure(
        "reader: records + rejects", read_records, url, repeat=3 if devices <= 100_000 else 1
    )
    raw = measure(
        "raw DB-API fetch, same queries",
        raw_fetch_same_queries,
        url,
        repeat=3 if devices <= 100_000 else 1,
    )
    ratio = reader.seconds / raw.seconds
    report(
        f"B5 site read: {backend}, {devices:,} devices",
        [reader, raw],
        [f"reader / raw fetch = {ratio:.2f}x (target <= 2x)"],
    )
    return reader


def run(*, large: bool, data_dir: str) -> None:
    """Run B5 (site part) on SQLite, and on PostgreSQL when configured."""
    sizes = (100_000, 700_000) if large else (100_000,)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    for backend in ("SQLite", "PostgreSQL"):
        readers: list[Measurement] = []
        for devices in sizes:
            if backend == "SQLite":
                url = f"sqlite:///{Path(data_dir).resolve() / f'site-{devices}.db'}"
            else:
                pg = _pg_url(devices)
                if pg is None:
                    print(
                        "\nB5 site read: PostgreSQL skipped (set COBRIDGE_BENCH_PG_URL to include it)"
                    )
                    break
                url = pg
            readers.append(_one(backend, url, devices))
        if len(readers) == 2:
            small, big = readers
            print(
                f"  peak RSS {small.peak_rss_mb:.0f} MB at {small.items:,} vs {big.peak_rss_mb:.0f} MB "
                f"at {big.items:,} devices ({big.peak_rss_mb / small.peak_rss_mb:.2f}x for "
                f"{big.items / small.items:.0f}x the devices)"
            )
