"""The workloads page's Rollout progress card in real Chromium: stages, health, gates, commands.

One service (SQLite, served from a thread) with a tenant of two hierarchies:
H-PS1's connector reported a rollout soaking its second of three stages and
refused an earlier resume order; H-PS2 never ran one. Viewers read the card
without a single control; operators get the commands the phase allows,
whose forms queue orders through the API (read back with the API here); an
abort without a reason is not sent. The card fits a 390-pixel screen.
Set COBRIDGE_SCREENSHOTS to a directory to keep the card at 1280 and 390 px.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cloud.contract.admin import Role
from cloud.contract.rollouts import (
    RolloutError,
    RolloutOrder,
    RolloutOrderResult,
    RolloutStatusReport,
)
from cloud.service import bootstrap
from tests.support.admin_center import PASSWORD, Tenant, tenant_with_users
from tests.support.browser import BrowserWorld, browser_world, sign_in_page
from tests.support.browser_captures import keep_screenshot
from tests.support.cloud_service import RunningService
from tests.support.tenant_clients import admin_client, connector_for

pytest_plugins = ["tests.support.browser_page"]
playwright_api = pytest.importorskip("playwright.sync_api")
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def soaking_status() -> RolloutStatusReport:
    """A rollout soaking its second of three stages, as a connector reports it."""
    stages = [
        ("wave 1 (PS100020)", "soak 2h", "done"),
        ("wave 2 (10%)", "soak 4h", "soaking"),
        ("final (the rest)", "no soak", "not started"),
    ]
    history = [
        (1, "rollout.applied"),
        (2, "rollout.started"),
        (3, "rollout.stage_applied"),
        (4, "rollout.soak_ended"),
        (5, "rollout.stage_started"),
        (6, "rollout.stage_applied"),
    ]
    return RolloutStatusReport.model_validate(
        {
            "rolloutId": str(uuid.uuid4()),
            "name": "spring-cloud-move",
            "active": True,
            "phase": "soaking",
            "stage": 2,
            "finalStage": 3,
            "summary": "soaking stage 2 of 3 (wave 2 (10%)) until 2026-11-01 15:00 UTC",
            "soakUntil": "2026-11-01T15:00:00+00:00",
            "planHash": "c0ffee" + "0" * 58,
            "createdBy": "api:pipeline",
            "createdAt": "2026-11-01T09:00:00+00:00",
            "updatedAt": "2026-11-01T11:00:00+00:00",
            "workloads": ["compliancePolicy", "deviceConfiguration"],
            "stages": [
                {"stage": n, "label": label, "soak": soak, "status": status}
                for n, (label, soak, status) in enumerate(stages, start=1)
            ],
            "health": {"touched": 120, "unsettled": 3, "stalled": 1, "failed": 2, "conflicts": 0},
            "gates": {
                "max_failed_percent": 5.0,
                "max_stalled_percent": 2.0,
                "max_conflicts": 0,
                "min_compliance_percent": 90.0,
                "on_trip": "rollback",
            },
            "history": [
                {
                    "seq": seq,
                    "at": f"2026-11-01T{9 + seq:02d}:00:00+00:00",
                    "actor": "connector" if seq > 2 else "api:pipeline",
                    "action": action,
                    "details": {},
                }
                for seq, action in history
            ],
        }
    )


@dataclass
class Made:
    """The tenant and an admin token for its API."""

    tenant: Tenant
    token: str


async def rollout_tenant(service: RunningService) -> Made:
    """A tenant whose H-PS1 reported a soaking rollout and refused a resume; H-PS2 has none."""
    tenant = await tenant_with_users(service.state)
    _, token = await bootstrap.create_token(
        service.state, tenant.tenant_id, tenant.user(Role.ADMIN), 30
    )
    async with admin_client(service, token) as admin:
        first = await connector_for(service, admin, "H-PS1")
        second = await connector_for(service, admin, "H-PS2")
        async with first.client as connector, second.client:
            await connector.report_rollout_status(soaking_status())
            resume = await admin.create_rollout_order("H-PS1", RolloutOrder(op="resume"))
            error = RolloutError(
                code="rollout_refused",
                message="cannot resume: the rollout is soaking",
                hint="only a paused rollout can resume",
            )
            await connector.post_rollout_result(
                resume.order_id, RolloutOrderResult(state="refused", error=error)
            )
    return Made(tenant, token)


World = BrowserWorld[Made]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The rollout tenant in a threaded service, and Chromium."""
    with browser_world(tmp_path_factory.mktemp("admin-rollout"), rollout_tenant) as made_world:
        yield made_world


def sign_in(page: Any, world: World, role: Role) -> None:
    """Sign in as the tenant's user of `role` and open the workloads page."""
    tenant = world.made.tenant
    sign_in_page(page, tenant.name, tenant.user(role), PASSWORD)
    page.goto("/workloads")


def text(locator: Any) -> str:
    """A locator's rendered text, whitespace collapsed."""
    return " ".join(locator.inner_text().split())


def orders(page: Any, world: World) -> list[dict[str, Any]]:
    """H-PS1's rollout orders through the API (newest first)."""
    answer = page.request.get(
        "/api/v1/hierarchies/H-PS1/rolloutOrders",
        headers={"Authorization": f"Bearer {world.made.token}"},
    )
    assert answer.ok, answer.text()
    return list(answer.json()["value"])


def test_viewers_see_the_progress_and_no_controls(world: World, page: Any) -> None:
    sign_in(page, world, Role.VIEWER)
    card = page.get_by_role("region", name="Rollout progress")
    assert card.is_visible()
    first = card.get_by_role("region", name="H-PS1 site PS1")
    assert text(first.locator(".rollout-line")) == "spring-cloud-move soaking"
    assert "soaking stage 2 of 3" in text(first.locator(".rollout-summary"))
    steps = first.get_by_role("list", name="Stages of spring-cloud-move").get_by_role("listitem")
    assert steps.count() == 3
    assert [steps.nth(i).get_attribute("class") for i in range(3)] == [
        "step done",
        "step current",
        "step pending",
    ]
    assert text(steps.nth(1)) == "2 wave 2 (10%) soak 4h · soaking"
    assert steps.nth(1).get_attribute("aria-current") == "step"
    # The stepped bar: each step's top border, green for done, blue for the current one.
    colours = [steps.nth(i).evaluate("e => getComputedStyle(e).borderTopColor") for i in range(3)]
    assert len(set(colours)) == 3, colours
    boxes = [steps.nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"], "side by side at 1280 px"
    figures = first.locator(".health-figures")
    assert text(figures) == "120 touched, 3 in flight, 1 stalled, 2 failed; 0 conflicts"
    assert "compliance ≥ 90% when reported; a tripped gate rolls back" in text(
        first.locator(".gates")
    )
    history = first.locator(".rollout-history li")
    assert history.count() == 5
    assert "rollout.stage_applied" in text(history.first), "newest first"
    assert "rollout.applied" not in text(first.locator(".rollout-history"))
    refused = first.locator(".rollout-orders li[data-state=refused]")
    assert "resume" in text(refused)
    assert "refused (rollout_refused): cannot resume: the rollout is soaking" in text(refused)
    second = card.get_by_role("region", name="H-PS2 site PS1")
    assert "No rollout has run on this hierarchy" in text(second)
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]
    assert card.locator("form").count() == 0
    keep_screenshot(page, "rollout-1280", card)


def test_operators_queue_commands_through_the_api(world: World, page: Any) -> None:
    sign_in(page, world, Role.OPERATOR)
    first = page.get_by_role("region", name="H-PS1 site PS1")
    buttons = first.locator(".rollout-commands").get_by_role("button")
    assert buttons.all_inner_texts() == ["Pause", "Roll back", "Abort"]
    assert page.get_by_role("region", name="H-PS2 site PS1").get_by_role("button").count() == 0
    before = len(orders(page, world))

    # An abort needs a reason: the browser does not send the form without one.
    first.get_by_role("button", name="Abort").click()
    assert page.url.endswith("/workloads")
    assert len(orders(page, world)) == before

    first.get_by_label("Reason (optional)").fill("look at wave 2's failures")
    first.get_by_role("button", name="Pause").click()
    page.wait_for_url("**/workloads#rollout-H-PS1")
    [paused, *_] = orders(page, world)
    assert (paused["op"], paused["state"]) == ("pause", "queued")
    assert paused["reason"] == "look at wave 2's failures"
    assert paused["requestedBy"] == world.made.tenant.user(Role.OPERATOR)
    waiting = first.locator(f".rollout-orders li[data-order='{paused['orderId']}']")
    assert "waiting for the connector" in text(waiting)
    assert "look at wave 2's failures" in text(waiting)

    first.locator("input[id^=reason-abort]").fill("wrong collection in wave 2")
    first.get_by_role("button", name="Abort").click()
    page.wait_for_url("**/workloads#rollout-H-PS1")
    [aborted, again, *_] = orders(page, world)
    assert (aborted["op"], aborted["reason"]) == ("abort", "wrong collection in wave 2")
    assert again["orderId"] == paused["orderId"]
    assert len(orders(page, world)) == before + 2


def test_a_viewer_cannot_post_a_command(world: World, page: Any) -> None:
    sign_in(page, world, Role.VIEWER)
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    before = len(orders(page, world))
    answer = page.request.post(
        "/workloads/rollouts/H-PS1/pause", form={"csrf": token, "reason": "sneaky"}
    )
    assert answer.status == 403
    assert "Only an operator or an admin" in answer.text()
    assert len(orders(page, world)) == before


def test_the_card_fits_a_390_pixel_screen(world: World, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world, Role.OPERATOR)
    card = page.get_by_role("region", name="Rollout progress")
    card.scroll_into_view_if_needed()
    assert page.evaluate(OVERFLOW) <= 0
    for locator in (card.locator(".step"), card.locator(".rollout-commands button")):
        for i in range(locator.count()):
            box = locator.nth(i).bounding_box()
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= 390, (i, box)
    keep_screenshot(page, "rollout-390", card)
