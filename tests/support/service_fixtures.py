"""The cloud service fixtures, defined once for the whole suite (a plugin of tests/conftest.py).

`service` is a fresh service per test, over `store_urls`, in the test's own
event loop. `shared_service` is one service per module and store backend,
for modules whose tests run in the module's event loop
(`pytest.mark.asyncio(loop_scope="module")`): starting a service costs
seconds. Such a module takes it under the usual name with one line,
`service = shared_service`, since a fixture's scope and event loop are fixed
where it is defined.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from tests.support.cloud_service import RunningService, start_service


@pytest_asyncio.fixture
async def service(
    store_urls: tuple[sa.URL, sa.URL], tmp_path: Path
) -> AsyncIterator[RunningService]:
    """The cloud service over HTTPS on ephemeral ports, on each store backend."""
    async for running in start_service(store_urls, tmp_path / "cloud"):
        yield running


@pytest.fixture(scope="module")
def service_data_dir(
    module_store: tuple[sa.URL, sa.URL], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The data directory (master key) of the module's shared service, one per backend."""
    return tmp_path_factory.mktemp("cloud")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_service(
    module_store: tuple[sa.URL, sa.URL], service_data_dir: Path
) -> AsyncIterator[RunningService]:
    """The cloud service over HTTPS, shared by the module's tests on each backend."""
    async for running in start_service(module_store, service_data_dir):
        yield running
