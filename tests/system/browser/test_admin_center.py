"""The admin center in real Chromium: sign-in, lockout, devices, detail, roles, isolation, layout.

One service (SQLite, served from a thread) and one browser for the module;
each test gets a fresh browser context (no shared cookies). A failing test
leaves a screenshot of its page under pytest's temporary directory. The
server's rules are also checked over plain HTTP on both store backends in
tests/cloud/admin_center/test_sessions.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from cloud.contract.admin import Role
from cloud.store.schema import devices
from tests.support.admin_center import PASSWORD, Tenant, seed_devices, tenant_with_users
from tests.support.browser import (
    CHROMIUM_ARGS,
    chromium_path,
    page_in_new_context,
    threaded_service,
)

playwright_api = pytest.importorskip("playwright.sync_api")
DEVICES = 120


@dataclass
class World:
    """The module's service, its tenants and the browser."""

    url: str
    a: Tenant
    b: Tenant
    b_device_id: str
    browser: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Tenant A with 120 devices, tenant B with 5, and Chromium."""
    executable = chromium_path()
    with threaded_service(tmp_path_factory.mktemp("admin-center")) as (service, run):
        a = run(tenant_with_users(service.state))
        b = run(tenant_with_users(service.state))
        run(seed_devices(service.state, a.tenant_id, DEVICES))
        run(seed_devices(service.state, b.tenant_id, 5, site="PS2"))

        async def first_b_device() -> str:
            async with service.state.engine.connect() as conn:
                stmt = sa.select(devices.c.device_id).where(devices.c.tenant_id == b.tenant_id)
                return (await conn.execute(stmt)).scalars().first()

        b_device = run(first_b_device())
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                yield World(service.api_url, a, b, b_device, browser)
            finally:
                browser.close()


@pytest.fixture
def page(
    world: World, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A page in a fresh context (1280 x 900); screenshotted when the test fails."""
    with page_in_new_context(world.browser, world.url, request, tmp_path_factory) as page:
        yield page


def sign_in(page: Any, tenant: Tenant, role: Role, password: str = PASSWORD) -> None:
    """Fill and send the sign-in form."""
    page.goto("/sign-in")
    page.get_by_label("Tenant (name or id)").fill(tenant.name)
    page.get_by_label("User name").fill(tenant.user(role))
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def count_of(page: Any) -> int:
    """The number of matching devices the list reports."""
    return int(page.locator("#device-count").get_attribute("data-count"))


def names(page: Any) -> list[str]:
    """The device names of the list, in order."""
    return page.locator("table.devices tbody td:first-child a").all_inner_texts()


def test_sign_in_failure_success_and_sign_out(world: World, page: Any) -> None:
    page.goto("/")
    assert page.url.endswith("/sign-in")
    sign_in(page, world.a, Role.ADMIN, password="not the password")
    assert "Sign-in failed" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Tenant (name or id)").input_value() == world.a.name
    sign_in(page, world.a, Role.ADMIN)
    assert page.url.endswith("/devices")
    assert page.get_by_role("heading", name="Devices").is_visible()
    assert count_of(page) == DEVICES
    assert page.locator(".role").inner_text() == "admin"
    page.get_by_role("button", name="Sign out").click()
    assert "/sign-in" in page.url
    page.goto("/devices")
    assert "/sign-in?next=" in page.url


def test_lockout_after_five_failures(world: World, page: Any) -> None:
    tenant = world.b
    for _ in range(5):
        sign_in(page, tenant, Role.OPERATOR, password="wrong wrong wrong")
        assert page.get_by_role("alert").is_visible()
    sign_in(page, tenant, Role.OPERATOR)
    assert "Sign-in failed" in page.get_by_role("alert").inner_text()
    assert "/devices" not in page.url


def test_search_filter_sort_and_paging(world: World, page: Any) -> None:
    sign_in(page, world.a, Role.OPERATOR)
    assert names(page)[:2] == ["WKS00001", "WKS00002"]
    page.get_by_label("Search names").fill("wks0001")
    page.get_by_role("button", name="Apply").click()
    assert count_of(page) == 10
    assert names(page) == [f"WKS{n:05d}" for n in range(10, 20)]
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Client health").select_option("fail")
    page.get_by_role("button", name="Apply").click()
    assert count_of(page) == DEVICES // 3
    assert set(page.locator("td .health").all_inner_texts()) == {"fail"}
    csv = page.request.get("/devices/export.csv?health=fail")
    assert csv.ok
    assert len(csv.text().strip().splitlines()) == 1 + DEVICES // 3
    page.goto("/devices")
    page.locator("th a[data-sort=deviceName]").click()  # the active column: now descending
    assert names(page)[0] == f"WKS{DEVICES:05d}"
    assert page.locator("th[aria-sort=descending]").count() == 1
    page.goto("/devices")
    seen = names(page)
    page.get_by_role("link", name="Next").click()
    assert "showing 51\u2013100" in page.locator("#device-count").inner_text()
    seen += names(page)
    page.get_by_role("link", name="Next").click()
    seen += names(page)
    assert page.get_by_role("link", name="Next").count() == 0
    assert seen == [f"WKS{n:05d}" for n in range(1, DEVICES + 1)]
    page.get_by_role("link", name="Previous").click()
    assert names(page) == seen[50:100]
    page.get_by_role("link", name="Previous").click()
    assert names(page) == seen[:50]


def test_device_detail(world: World, page: Any) -> None:
    sign_in(page, world.a, Role.VIEWER)
    page.get_by_role("link", name="WKS00004", exact=True).click()
    assert page.get_by_role("heading", name="WKS00004").is_visible()
    keys = page.locator("dl.keys").inner_text()
    assert "GUID:00000004-1111-4222-8333-444455556666" in keys
    assert str(16777224) in keys
    assert "PS100010" in page.locator(".collections").inner_text()
    assert "created" in page.locator(".timeline").inner_text()
    assert "fail" in page.get_by_role("heading", name="Client health").locator("..").inner_text()
    properties = page.get_by_role("heading", name="Properties").locator("..").inner_text()
    assert "4163: on the cloud: Compliance policies, Client apps (other bits 0x1000)" in properties


def test_viewer_sees_nothing_that_changes_anything(world: World, page: Any) -> None:
    sign_in(page, world.a, Role.VIEWER)
    assert page.locator(".role").inner_text() == "viewer"
    for path in ("/devices", "/devices?health=pass", "/connectors", "/quarantine"):
        page.goto(path)
        forms = page.locator("form[method=post]")
        assert forms.count() == 1, path
        assert forms.first.get_attribute("action") == "/sign-out"
        buttons = page.get_by_role("button").all_inner_texts()
        assert set(buttons) <= {"Sign out", "Apply"}, (path, buttons)
    page.get_by_role("link", name="Devices").click()
    page.locator("table.devices tbody a").first.click()
    assert page.locator("form[method=post]").count() == 1
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]


def test_tenant_isolation_through_the_pages(world: World, page: Any) -> None:
    sign_in(page, world.a, Role.ADMIN)
    assert "PS2" not in page.locator("table.devices").inner_text()
    response = page.goto(f"/devices/{world.b_device_id}")
    assert response.status == 404
    assert page.get_by_role("heading", name="No such device").is_visible()
    page.goto("/devices?site=PS2&sort=deviceName&dir=asc")
    assert count_of(page) == 0


def test_pages_fit_a_390_pixel_screen(world: World, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    page.goto("/sign-in")
    assert page.evaluate(overflow) <= 0
    sign_in(page, world.a, Role.ADMIN)
    device_path = page.locator("table.devices tbody a").first.get_attribute("href")
    for path in ("/devices", device_path, "/connectors", "/workloads", "/audit"):
        page.goto(path)
        assert page.evaluate(overflow) <= 0, path
        assert page.get_by_role("navigation", name="Admin center").is_visible()
