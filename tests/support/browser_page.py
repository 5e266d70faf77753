"""The `page` fixture of the browser test modules: a fresh context on the module's `world`.

A module loads it with `pytest_plugins = ["tests.support.browser_page"]` and defines
a module-scoped `world` fixture with `url` and `browser` (a `BrowserWorld`).
PYTEST_DONT_REWRITE (it has no asserts to rewrite).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import page_in_new_context


@pytest.fixture
def page(
    world: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A page in a fresh context (1280 x 900); screenshotted when the test fails."""
    with page_in_new_context(world.browser, world.url, request, tmp_path_factory) as page:
        yield page
