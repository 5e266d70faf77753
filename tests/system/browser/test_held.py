"""The connectors, quarantine and held-deletes pages in real Chromium: review, release, roles, layout.

One service (SQLite, served from a thread) with one tenant whose connector
reported a status and held deletes, and one browser for the module; each test
gets a fresh browser context. The forms' server-side rules are checked over
plain HTTP on both store backends in tests/cloud/admin_center/test_pages.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cloud.contract.admin import Role
from tests.support.admin_center import PASSWORD, Attached, attached
from tests.support.browser import browser_and_service, page_in_new_context, sign_in_page

playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class World:
    """The module's service URL, its reporting tenant and the browser."""

    url: str
    attached: Attached
    browser: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A tenant whose connector reported its status and two held cycles, and Chromium."""
    data_dir = tmp_path_factory.mktemp("admin-held")
    with browser_and_service(data_dir, attached) as (url, made, browser):
        yield World(url, made, browser)


@pytest.fixture
def page(
    world: World, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A page in a fresh context (1280 x 900); screenshotted when the test fails."""
    with page_in_new_context(world.browser, world.url, request, tmp_path_factory) as page:
        yield page


def sign_in(page: Any, world: World, role: Role) -> None:
    """Sign in as the tenant's user of `role`."""
    tenant = world.attached.tenant
    sign_in_page(page, tenant.name, tenant.user(role), PASSWORD)


def test_connectors_page_shows_the_heartbeat_status(world: World, page: Any) -> None:
    sign_in(page, world, Role.ADMIN)
    page.get_by_role("link", name="Connectors").click()
    card = page.locator("section.hierarchy", has_text="H-PS1")
    assert card.get_by_role("heading", name="H-PS1").is_visible()
    text = card.inner_text()
    assert "9.8.7" in text
    assert "1234" in text
    assert "ago" in card.locator(".heartbeat").inner_text()
    assert card.get_by_role("link", name="Detach").is_visible()
    assert page.locator("table.connectors tbody tr").count() == 1


def test_admin_reviews_and_releases_a_group_through_the_confirmation(
    world: World, page: Any
) -> None:
    sign_in(page, world, Role.ADMIN)
    page.get_by_role("link", name="Quarantine & held deletes").click()
    assert page.get_by_role("heading", name="Held deletes", exact=True).is_visible()
    row = page.locator("tr[data-cycle=c2]")
    assert "WKS00003" in row.inner_text()
    row.get_by_role("link", name="Release cycle c2").click()
    assert page.get_by_role("heading", name="Release the held deletes of cycle c2?").is_visible()
    assert "40 devices" in page.locator("main").inner_text()
    page.get_by_role("button", name="Release").click()
    assert page.url.endswith("/quarantine")
    assert "release pending" in page.locator("tr[data-cycle=c2]").inner_text()
    orders = page.locator("table.releases tbody tr")
    assert orders.count() == 1
    assert "pending" in orders.first.inner_text()
    assert world.attached.tenant.user(Role.ADMIN) in orders.first.inner_text()
    assert page.get_by_role("link", name="Release cycle c1").is_visible()


def test_a_viewer_sees_neither_button(world: World, page: Any) -> None:
    sign_in(page, world, Role.VIEWER)
    for path in ("/connectors", "/quarantine"):
        page.goto(path)
        assert "H-PS1" in page.locator("main").inner_text()
        assert page.get_by_role("link", name=re.compile("Detach|Release")).count() == 0, path
        assert page.get_by_role("button").all_inner_texts() == ["Sign out"], path


def test_the_pages_fit_a_390_pixel_screen(world: World, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    sign_in(page, world, Role.ADMIN)
    h = world.attached.hierarchy_id
    for path in (
        "/connectors",
        "/quarantine",
        f"/quarantine/{h}/release",
        f"/quarantine/{h}/records",
        f"/connectors/{h}/detach",
    ):
        page.goto(path)
        assert page.evaluate(overflow) <= 0, path


def test_a_viewer_reviews_the_quarantine_by_reason(world: World, page: Any) -> None:
    sign_in(page, world, Role.VIEWER)
    page.get_by_role("link", name="Quarantine & held deletes").click()
    main = page.locator("main")
    assert "1,500 records quarantined" in main.inner_text()
    page.get_by_role(
        "link", name=f"All quarantined records of {world.attached.hierarchy_id}"
    ).click()
    assert page.locator("table.quarantined tbody tr").count() == 50
    page.get_by_label("Reason").select_option("shared_smsid")
    page.get_by_role("button", name="Show").click()
    assert "reason=shared_smsid" in page.url
    assert page.locator("table.quarantined tbody tr").count() == 20
    reasons = page.locator("table.quarantined tbody td:nth-child(5)").all_inner_texts()
    assert set(reasons) == {"shared_smsid"}
    assert "Another live record has the same SMSID." in main.inner_text()
