"""Throwaway PostgreSQL databases for tests, from the server named by COBRIDGE_TEST_PG_URL.

In CI (CI=true) a missing server is a failure, never a skip: the PostgreSQL
contract tests must run there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_ENV = "COBRIDGE_TEST_PG_URL"


def pg_admin_url() -> sa.URL:
    """The configured server's URL, or skip (fail in CI) with the reason."""
    raw = os.environ.get(PG_ENV, "").strip()
    if not raw:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_ENV} is not set in CI: the PostgreSQL contract tests must run")
        pytest.skip(f"PostgreSQL tests skipped: set {PG_ENV}=postgresql://user@host:port/db")
    url = sa.make_url(raw)
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    return url


@contextlib.contextmanager
def throwaway_pg_database(prefix: str = "cobridge_t") -> Iterator[sa.URL]:
    """Create an empty database on the test server, yield its URL, drop it afterwards."""
    admin_url = pg_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
