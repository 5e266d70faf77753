"""Device actions in the admin center, in real Chromium: ask, see the result, bulk, roles.

One service (SQLite, served from a thread) with a tenant whose enrolled
connector attached three devices, and one browser for the module. The
connector's side is played by the real client over mutual TLS (claim,
start, result) from the test, between page loads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bridge.tenant.connector import ConnectorClient
from cloud.contract.action_relay import ActionResult
from cloud.contract.admin import Role
from tests.support.action_world import Made, attached_devices
from tests.support.admin_center import PASSWORD
from tests.support.browser import browser_and_service, sign_in_page

pytest_plugins = ["tests.support.browser_page"]
playwright_api = pytest.importorskip("playwright.sync_api")
HIERARCHY = "H-PS1"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@dataclass
class World:
    """The module's service URL, what the setup made, and the browser."""

    url: str
    made: Made
    browser: Any

    def relay(self, output: str) -> list[str]:
        """Play the connector: claim every queued action, start it and report success."""

        async def run() -> list[str]:
            async with ConnectorClient(
                None,
                self.made.connector_url,
                ca_pem=self.made.root_pem,
                cert_chain_pem=self.made.chain,
                key_pem=self.made.key,
            ) as connector:
                claim = await connector.claim_actions(limit=50, wait_seconds=0)
                for action in claim.value:
                    await connector.mark_running(action.action_id)
                    await connector.report_action(
                        ActionResult(
                            action_id=action.action_id,
                            state="succeeded",
                            return_value=0,
                            output=output,
                        )
                    )
                return [a.device.name for a in claim.value]

        # Playwright's sync API keeps an event loop on this thread: run on another.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result(60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A tenant whose connector attached three devices, and Chromium."""
    data_dir = tmp_path_factory.mktemp("admin-actions")
    with browser_and_service(data_dir, attached_devices) as (url, made, browser):
        yield World(url, made, browser)


def sign_in(page: Any, world: World, role: Role) -> None:
    """Sign in as the tenant's user of `role`."""
    sign_in_page(page, world.made.tenant.name, world.made.tenant.user(role), PASSWORD)


def test_an_operator_asks_for_policy_retrieval_and_sees_the_result(world: World, page: Any) -> None:
    sign_in(page, world, Role.OPERATOR)
    page.get_by_role("link", name="WKS00002").click()
    card = page.locator("section#actions")
    assert card.get_by_role("heading", name="Actions", exact=True).is_visible()
    assert "No action asked of this device yet." in card.inner_text()
    card.get_by_role("button", name="Machine policy retrieval").click()
    row = card.locator("tr[data-state]")
    assert row.count() == 1
    assert row.first.get_attribute("data-state") == "queued"
    assert "machinePolicyRetrieval" in row.first.inner_text()
    assert world.made.tenant.user(Role.OPERATOR) in row.first.inner_text()

    assert world.relay("Triggered {00000000-0000-0000-0000-000000000021}") == ["WKS00002"]
    page.reload()
    row = page.locator("section#actions tr[data-state]").first
    assert row.get_attribute("data-state") == "succeeded"
    assert "ReturnValue 0" in row.inner_text()
    output = row.locator("details.output")
    assert not output.locator("pre").is_visible()
    output.locator("summary").click()
    assert output.locator("pre").inner_text() == "Triggered {00000000-0000-0000-0000-000000000021}"
    assert "ended" in row.locator("td.times").inner_text()


def test_an_operator_runs_a_bulk_action_on_the_filtered_list(world: World, page: Any) -> None:
    sign_in(page, world, Role.OPERATOR)
    page.goto("/devices?site=PS1")
    page.get_by_role("link", name="Run an action on these devices…").click()
    assert "site=PS1" in page.locator("main").inner_text()
    page.get_by_label("Action", exact=True).select_option("hardwareInventory")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#bulk-preview")
    assert preview.get_attribute("data-targets") == "3"
    assert "WKS00001, WKS00002, WKS00003" in preview.inner_text()
    preview.get_by_role("button", name="Queue on 3 devices").click()
    assert re.search(r"/actions\?bulk=[0-9a-f-]{36}$", page.url)
    rows = page.locator("table.action-list tbody tr[data-state]")
    assert rows.count() == 3
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.state)")) == {"queued"}
    assert sorted(world.relay("inventory sent")) == ["WKS00001", "WKS00002", "WKS00003"]
    page.reload()
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.state)")) == {"succeeded"}


def test_an_operator_cancels_a_queued_restart(world: World, page: Any) -> None:
    sign_in(page, world, Role.OPERATOR)
    page.goto(f"/devices/{world.made.devices['WKS00003']}")
    card = page.locator("section#actions")
    card.get_by_label("Restart in (minutes)").fill("30")
    card.get_by_role("button", name="Restart").click()
    row = card.locator("tr[data-state=queued]")
    assert "in 30 min" in row.inner_text()
    row.get_by_role("button", name=re.compile("^Cancel restart")).click()
    assert page.url.endswith("#actions")
    row = page.locator("section#actions tr[data-state=cancelled]")
    assert world.made.tenant.user(Role.OPERATOR) in row.inner_text()
    assert world.relay("nothing") == [], "a cancelled action is never claimed"


def test_a_viewer_sees_results_but_no_buttons(world: World, page: Any) -> None:
    sign_in(page, world, Role.VIEWER)
    page.goto(f"/devices/{world.made.devices['WKS00002']}")
    card = page.locator("section#actions")
    assert card.get_by_role("heading", name="Actions", exact=True).is_visible()
    assert card.get_by_role("button").count() == 0
    assert card.locator("form").count() == 0
    assert card.locator("tr[data-state]").count() >= 1
    page.goto("/devices")
    assert page.get_by_role("link", name="Run an action on these devices…").count() == 0
    page.get_by_role("navigation", name="Admin center").get_by_role("link", name="Actions").click()
    assert page.url.endswith("/actions")
    assert page.locator("table.action-list tbody tr[data-state]").count() >= 1
    assert page.get_by_role("button", name="Cancel").count() == 0
    page.goto("/actions/bulk")
    assert page.get_by_role("heading", name="Not allowed").is_visible()


def test_the_pages_fit_a_390_pixel_screen(world: World, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world, Role.ADMIN)
    for path in (
        f"/devices/{world.made.devices['WKS00001']}",
        "/actions",
        "/actions/bulk?site=PS1&kind=softwareUpdateScan",
    ):
        page.goto(path)
        assert page.evaluate(OVERFLOW) <= 0, path
