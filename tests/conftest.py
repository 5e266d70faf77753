"""Shared fixtures: empty, migrated site stores on every backend (SQLite and PostgreSQL).

Every test under tests/system/ (processes, Chromium, the Samba DC, kill -9,
the fault proxy, end-to-end runs) is marked `system`; `make test-fast` leaves
those out.

Also how the suite splits over pytest-xdist workers (`make test` runs
`-n auto --dist loadgroup`): each module stays on one worker (its
module-scoped service is set up once), and every test that uses the Samba
AD DC runs on the same worker, since one DC serves the whole machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from onprem.site_database import create_site_engine
from onprem.site_store import migrate_site
from tests.support.pg import throwaway_pg_database
from tests.support.suite_layout import is_system_test

# The cloud service fixtures (`service`, `shared_service`), defined once for the suite.
pytest_plugins = ["tests.support.service_fixtures"]

AS_OF = datetime(2026, 11, 1, 8, 0, 0)
SAMBA_FIXTURE = "samba_dc"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the system tests, and group tests for xdist's loadgroup: by module, Samba together."""
    for item in items:
        if is_system_test(item.path):
            item.add_marker(pytest.mark.system)
        names = getattr(item, "fixturenames", ())
        group = "samba-dc" if SAMBA_FIXTURE in names else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(name=group))


# Every store test runs on SQLite and, where a server is configured (always in CI), PostgreSQL.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
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


@contextlib.contextmanager
def _migrated_cloud_store(backend: str, directory: Path) -> Iterator[tuple[sa.URL, sa.URL]]:
    from cloud.store.engine import migrate_store, store_urls

    if backend == "sqlite":
        urls = store_urls(None, directory)
        migrate_store(urls[0])
        yield urls
        return
    with throwaway_pg_database("cobridge_cloud") as url:
        urls = store_urls(url.render_as_string(hide_password=False), directory)
        migrate_store(urls[0])
        yield urls


@pytest.fixture(params=BACKENDS)
def store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sa.URL, sa.URL]]:
    """(sync, async) URLs of an empty, migrated cloud store on each backend."""
    with _migrated_cloud_store(request.param, tmp_path) as urls:
        yield urls


@pytest.fixture(scope="module", params=BACKENDS)
def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[sa.URL, sa.URL]]:
    """The same, one per backend for a whole test module (starting a service costs seconds)."""
    with _migrated_cloud_store(request.param, tmp_path_factory.mktemp("store")) as urls:
        yield urls
