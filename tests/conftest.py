"""Shared fixtures: empty, migrated site stores on every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from onprem.site_database import create_site_engine
from onprem.site_store import migrate_site
from tests.pg import throwaway_pg_database

AS_OF = datetime(2026, 11, 1, 8, 0, 0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site_backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend a contract test runs against."""
    return request.param


@pytest.fixture
def site_url(site_backend: str, tmp_path: Path) -> Iterator[sa.URL]:
    """A URL to an empty database of the current backend."""
    if site_backend == "sqlite":
        yield sa.make_url(f"sqlite:///{tmp_path / 'site.db'}")
    else:
        with throwaway_pg_database("cobridge_site") as url:
            yield url


@pytest.fixture
def site_engine(site_url: sa.URL) -> Iterator[sa.Engine]:
    """An engine to an empty site store migrated to the newest schema."""
    engine = create_site_engine(site_url)
    migrate_site(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sa.URL, sa.URL]]:
    """(sync, async) URLs of an empty, migrated cloud store on each backend."""
    from cloud.store.engine import migrate_store, store_urls

    if request.param == "sqlite":
        urls = store_urls(None, tmp_path)
        migrate_store(urls[0])
        yield urls
    else:
        with throwaway_pg_database("cobridge_cloud") as url:
            urls = store_urls(url.render_as_string(hide_password=False), tmp_path)
            migrate_store(urls[0])
            yield urls


@pytest_asyncio.fixture
async def service(store_urls: tuple[sa.URL, sa.URL], tmp_path: Path):  # type: ignore[no-untyped-def]
    """The cloud service over HTTPS on ephemeral ports, on each store backend."""
    from tests.cloud_service import start_service

    async for running in start_service(store_urls, tmp_path / "cloud"):
        yield running
