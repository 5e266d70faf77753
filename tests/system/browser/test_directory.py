"""The directory pages in real Chromium: AD-only computers found from the devices list.

One service (SQLite, served from a thread) with a tenant of three attached
devices whose hierarchy's AD holds five more computers: two without an agent
(one disabled, one with a very long DN), one disputed, one deleted from AD
while its device still reports (a discrepancy), and one linked to WKS00001.
A second tenant's computers must never show. Set COBRIDGE_SCREENSHOTS to keep
screenshots.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from cloud.contract.admin import Role
from cloud.contract.directory import DirectoryComputer
from cloud.service.state import ServiceState
from cloud.store.directory import save_computers
from tests.support.admin_center import PASSWORD, Tenant, seed_devices, tenant_with_users
from tests.support.browser import BrowserWorld, browser_world, sign_in_page
from tests.support.browser_captures import keep_screenshot, text
from tests.support.cloud_service import RunningService
from tests.support.store_records import smsid

pytest_plugins = ["tests.support.browser_page"]
playwright_api = pytest.importorskip("playwright.sync_api")
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
LONG_OU = ",".join(f"OU=Department of Very Long Names {n}" for n in range(8))
GONE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@dataclass
class Made:
    """The tenant whose pages are visited, and the other tenant's hierarchy."""

    tenant: Tenant
    other: Tenant


def ad(name: str, n: int, **values: Any) -> DirectoryComputer:
    """An AD computer named `name` (AD-only unless `values` say otherwise)."""
    fields: dict[str, Any] = {
        "object_guid": str(uuid.UUID(int=n)),
        "distinguished_name": f"CN={name},OU=Workstations,DC=corp,DC=example",
        "name": name,
        "dns_host_name": f"{name.lower()}.corp.example",
        "operating_system": "Windows 11 Enterprise",
        "enabled": True,
        "match": "none",
    }
    return DirectoryComputer(**(fields | values))


async def seed(state: ServiceState, tenant: Tenant, computers: list[DirectoryComputer]) -> None:
    """Three attached devices in H-PS1 and the hierarchy's AD computers."""
    await seed_devices(state, tenant.tenant_id, 3)
    async with state.engine.begin() as conn:
        await save_computers(conn, tenant.tenant_id, "H-PS1", computers, state.clock())


async def two_tenants(service: RunningService) -> Made:
    """The tenant of the scenario, and another with an AD-only computer of its own."""
    tenant = await tenant_with_users(service.state)
    await seed(
        service.state,
        tenant,
        [
            ad("WKS00001", 1, match="dn", smsid=smsid(1)),
            ad("LAB-PC7", 2),
            ad("KIOSK-OLD", 3, enabled=False, distinguished_name=f"CN=KIOSK-OLD,{LONG_OU},DC=corp"),
            ad("WKS00002", 4, match="disputed"),
            ad("WKS00003", 5, match="dn", smsid=smsid(3), deleted_at=GONE, discrepancy=True),
        ],
    )
    other = await tenant_with_users(service.state)
    await seed(service.state, other, [ad("OTHER-TENANT-PC", 9)])
    return Made(tenant, other)


World = BrowserWorld[Made]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The service with both tenants, and Chromium."""
    with browser_world(tmp_path_factory.mktemp("admin-directory"), two_tenants) as made_world:
        yield made_world


def sign_in(page: Any, world: World) -> None:
    """Sign in as the scenario tenant's viewer."""
    tenant = world.made.tenant
    sign_in_page(page, tenant.name, tenant.user(Role.VIEWER), PASSWORD)


def names(page: Any) -> list[str]:
    """The computers listed, in order."""
    return page.locator("table.computers tbody td:first-child").all_inner_texts()


def test_from_the_devices_notice_to_the_computers_without_an_agent(world: World, page: Any) -> None:
    sign_in(page, world)
    notice = page.locator("#no-agent")
    assert text(notice).startswith("2 domain computers have no agent")
    notice.get_by_role("link", name="See the directory").click()
    assert page.url.endswith("/directory")
    summary = page.locator("section.directory-summary[data-hierarchy=H-PS1]")
    counts = {
        li.get_attribute("data-state"): int(li.locator("strong").inner_text())
        for li in summary.locator("li").all()
    }
    assert counts == {
        "all": 4,
        "noAgent": 2,
        "matched": 1,
        "disputed": 1,
        "disabled": 1,
        "discrepancy": 1,
        "deleted": 1,
    }
    assert "OTHER-TENANT-PC" not in page.content()
    keep_screenshot(page, "directory-1280")

    summary.locator("li[data-state=noAgent] a").click()
    assert names(page) == ["KIOSK-OLD", "LAB-PC7"]
    assert text(page.locator("#computer-count")).startswith("Computers 1 to 2 of 2")
    kiosk = page.locator("tr", has_text="KIOSK-OLD")
    assert "disabled" in kiosk.inner_text()
    assert "no agent" in kiosk.inner_text()
    keep_screenshot(page, "directory-no-agent-1280")

    page.get_by_label("Show").select_option("discrepancy")
    page.get_by_role("button", name="Show").click()
    assert names(page) == ["WKS00003"]
    row = page.locator("table.computers tbody tr").first
    assert "discrepancy" in row.inner_text()
    assert "deleted" in row.inner_text()

    page.get_by_label("Show").select_option("all")
    page.get_by_label("Name, DNS name or DN contains").fill("wks")
    page.get_by_role("button", name="Show").click()
    assert names(page) == ["WKS00001", "WKS00002"]
    page.locator("tr", has_text="WKS00001").get_by_role("link").click()
    assert page.get_by_role("heading", name="WKS00001").is_visible()


def test_the_device_detail_names_its_ad_object(world: World, page: Any) -> None:
    sign_in(page, world)
    page.get_by_role("link", name="WKS00001", exact=True).click()
    card = page.locator("#active-directory")
    assert "CN=WKS00001,OU=Workstations,DC=corp,DC=example" in card.inner_text()
    assert "distinguished name" in card.inner_text()
    page.goto("/devices")
    page.get_by_role("link", name="WKS00003", exact=True).click()
    flagged = page.locator("#active-directory").inner_text()
    assert "deleted from AD" in flagged
    assert "discrepancy" in flagged
    page.goto("/devices")
    page.get_by_role("link", name="WKS00002", exact=True).click()
    assert "No AD computer object is linked" in page.locator("#active-directory").inner_text()


def test_other_tenants_and_bad_filters_get_clear_pages(world: World, page: Any) -> None:
    sign_in(page, world)
    response = page.goto("/directory/H-NOPE")
    assert response.status == 404
    assert page.get_by_role("heading", name="No such hierarchy").is_visible()
    response = page.goto("/directory/H-PS1?state=everything")
    assert response.status == 400
    assert page.get_by_role("heading", name="Not a filter").is_visible()


def test_directory_pages_fit_a_390_pixel_screen(world: World, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world)
    for path in ("/directory", "/directory/H-PS1", "/directory/H-PS1?state=noAgent"):
        page.goto(path)
        assert page.evaluate(OVERFLOW) <= 0, path
    keep_screenshot(page, "directory-no-agent-390")
