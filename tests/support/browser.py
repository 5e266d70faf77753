"""Chromium for admin center tests: Debian's browser driven by Playwright, and a threaded service.

Playwright's own browser downloads are never used: the tests launch the
system Chromium by path. In CI (CI=true) a missing browser fails the tests;
elsewhere they are skipped with the reason. The service runs on an event loop
of its own in a thread, so that the tests can use Playwright's sync API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from cloud.store.engine import migrate_store, store_urls
from tests.support.cloud_service import RunningService, start_service

T = TypeVar("T")
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """The system Chromium, or fail (CI) / skip (elsewhere) when it is absent."""
    for candidate in (os.environ.get("COBRIDGE_CHROMIUM"), *CHROMIUM_PATHS):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    reason = "Chromium is not installed (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def threaded_service(data_dir: Path) -> Iterator[tuple[RunningService, Callable[..., Any]]]:
    """The service on SQLite in `data_dir`, served from a thread; (service, run-coroutine)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="cloud-service", daemon=True)
    thread.start()

    def run(coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)  # type: ignore[arg-type]

    urls = store_urls(None, data_dir)
    migrate_store(urls[0])
    service_gen = start_service(urls, data_dir / "cloud")
    try:
        service = run(anext(service_gen))
        yield service, run
    finally:
        with contextlib.suppress(StopAsyncIteration):
            run(service_gen.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def page_in_new_context(
    browser: Any,
    base_url: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """A page in a fresh context (1280 x 900); screenshotted when the test fails."""
    context = browser.new_context(
        base_url=base_url, ignore_https_errors=True, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    failed_before = request.session.testsfailed
    try:
        yield page
    finally:
        if request.session.testsfailed > failed_before:
            shots = tmp_path_factory.getbasetemp() / "screenshots"
            shots.mkdir(exist_ok=True)
            target = shots / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}.png"
            page.screenshot(path=str(target), full_page=True)
            print(f"screenshot of the failing page: {target}")
        context.close()


@contextlib.contextmanager
def browser_and_service(
    data_dir: Path, setup: Callable[[RunningService], Awaitable[T]]
) -> Iterator[tuple[str, T, Any]]:
    """A threaded service on SQLite, what `setup` made in it, and Chromium: (url, made, browser)."""
    executable = chromium_path()
    with threaded_service(data_dir) as (service, run):
        made = run(setup(service))
        playwright_api = pytest.importorskip("playwright.sync_api")
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                yield service.api_url, made, browser
            finally:
                browser.close()


def sign_in_page(page: Any, tenant_name: str, user: str, password: str) -> None:
    """Sign in through the form; the devices page is where a session starts."""
    page.goto("/sign-in")
    page.get_by_label("Tenant (name or id)").fill(tenant_name)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith("/devices")


@dataclass
class BrowserWorld(Generic[T]):
    """A browser test module's world: the service URL, what its setup made, Chromium."""

    url: str
    made: T
    browser: Any


@contextlib.contextmanager
def browser_world(
    data_dir: Path, setup: Callable[[RunningService], Awaitable[T]]
) -> Iterator[BrowserWorld[T]]:
    """`browser_and_service` as one object (tests/support/browser_page.py gives each test a page of it)."""
    with browser_and_service(data_dir, setup) as (url, made, browser):
        yield BrowserWorld(url, made, browser)
