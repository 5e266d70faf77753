"""The workloads page and the device detail's authority in real Chromium: chart, table, layout.

One service (SQLite, served from a thread) with a tenant whose connector sent
the cloud gate grants and reported its arbiter's records (the scenario of
tests/cloud/admin_center/test_workloads.py, where the same pages are checked over HTTP
against the API on both store backends), and one browser for the module.
Set COBRIDGE_SCREENSHOTS to a directory to keep a screenshot of each page at
1280 and 390 pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cloud.contract.admin import Role
from tests.support.admin_center import PASSWORD
from tests.support.browser import browser_and_service, sign_in_page
from tests.support.browser_captures import keep_screenshot, text
from tests.support.reported_tenant import Reported, reported_tenant

pytest_plugins = ["tests.support.browser_page"]
playwright_api = pytest.importorskip("playwright.sync_api")
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
CHART = "Devices per holder, per workload"


@dataclass
class World:
    """The module's service URL, its reporting tenant and the browser."""

    url: str
    reported: Reported
    browser: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A tenant whose connector reported authority records and holds cloud grants, and Chromium."""
    data_dir = tmp_path_factory.mktemp("admin-workloads")
    with browser_and_service(data_dir, reported_tenant) as (
        url,
        made,
        browser,
    ):
        yield World(url, made, browser)


def sign_in(page: Any, world: World, role: Role) -> None:
    """Sign in as the tenant's user of `role`."""
    tenant = world.reported.tenant
    sign_in_page(page, tenant.name, tenant.user(role), PASSWORD)


def test_workloads_from_the_nav_show_the_chart_and_its_numbers(world: World, page: Any) -> None:
    sign_in(page, world, Role.VIEWER)
    page.get_by_role("navigation", name="Admin center").get_by_role(
        "link", name="Workloads"
    ).click()
    assert page.url.endswith("/workloads")
    assert page.get_by_role("heading", name="Workloads", exact=True).is_visible()
    chart = page.get_by_role("img", name=CHART)
    assert chart.is_visible()
    described = page.locator(f"#{chart.get_attribute('aria-describedby')}").text_content()
    assert "Compliance policies: site 1, cloud 1, in handoff 1." in described
    assert "Device configuration: site 0, cloud 2, in handoff 0." in described

    compliance = chart.locator(".bar-row[data-workload=compliancePolicy]")
    numbers = compliance.locator(".bar-numbers")
    assert numbers.is_visible()
    assert numbers.inner_text().split() == ["Site", "1", "Cloud", "1", "In", "handoff", "1"]
    assert compliance.locator(".bar-name").inner_text() == "Compliance policies"
    # Three records, one per holder, drawn as three equal segments of the full width.
    widths = [
        compliance.locator(f"rect.seg.{kind}").bounding_box()["width"]
        for kind in ("configmgr", "cloud", "in_handoff")
    ]
    track = compliance.locator("rect.track").bounding_box()["width"]
    assert track > 100
    assert all(abs(w - track / 3) < 2 for w in widths), (widths, track)
    config = chart.locator(".bar-row[data-workload=deviceConfiguration]")
    assert config.locator("rect.seg").count() == 1, "only the cloud segment of Device configuration"
    assert abs(config.locator("rect.seg.cloud").bounding_box()["width"] - 2 * track / 3) < 2

    row = page.locator("table.workloads tr[data-workload=deviceConfiguration]")
    assert row.locator("td[data-kind=cloud]").inner_text() == "2"
    assert row.locator("td[data-kind=conflicts]").inner_text() == "1"
    assert page.get_by_role("heading", name="Rollout progress").is_visible()
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]
    keep_screenshot(page, "workloads-1280")


def test_the_device_detail_shows_its_authority_table(world: World, page: Any) -> None:
    sign_in(page, world, Role.VIEWER)
    page.get_by_role("link", name="WKS00003", exact=True).click()
    section = page.locator("section.authority")
    assert section.get_by_role("heading", name="Co-management authority").is_visible()
    table = section.get_by_role("table")
    assert table.locator("tbody tr").count() == 7
    office = table.locator("tr[data-workload=officeApps]")
    assert office.locator("td[data-field=holder]").inner_text() == "Site"
    assert office.locator("td[data-field=grant]").inner_text() == "holds, epoch 1"
    assert "cloud_gate_holds_for_site" in office.locator("td[data-field=conflict]").inner_text()
    compliance = table.locator("tr[data-workload=compliancePolicy]")
    assert compliance.locator("td[data-field=epoch]").inner_text() == "2"
    assert "site_applying_without_grant" in compliance.inner_text()
    updates = table.locator("tr[data-workload=windowsUpdateForBusiness]")
    assert text(updates.locator("td[data-field=holder]")) == "Site never handed off"
    assert updates.locator("td[data-field=epoch]").inner_text() == "0"
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]
    keep_screenshot(page, "device-1280")

    page.goto(f"/devices/{world.reported.device_ids[5]}")
    assert "was ever handed off" in section.inner_text()
    holders = table.locator("td[data-field=holder]")
    assert [text(holders.nth(i)) for i in range(holders.count())] == ["Site never handed off"] * 7


def test_both_pages_fit_a_390_pixel_screen(world: World, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world, Role.VIEWER)
    for name, path in (
        ("workloads", "/workloads"),
        ("device", f"/devices/{world.reported.device_ids[3]}"),
        ("device-2", f"/devices/{world.reported.device_ids[2]}"),
    ):
        page.goto(path)
        assert page.evaluate(OVERFLOW) <= 0, path
        assert page.get_by_role("navigation", name="Admin center").is_visible()
        if name == "workloads":
            numbers = page.locator(".bar-row[data-workload=compliancePolicy] .bar-numbers")
            assert numbers.is_visible()
            assert numbers.bounding_box()["x"] + numbers.bounding_box()["width"] <= 390
            keep_screenshot(page, "workloads-390")
        if name == "device":
            assert page.locator("section.authority .table-wrap").is_visible()
            keep_screenshot(page, "device-390")
            keep_screenshot(page, "device-390-authority", page.locator("section.authority"))
