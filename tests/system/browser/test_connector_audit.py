"""The connector audit log pages in real Chromium: from the audit page to each chain's status.

One service (SQLite, served from a thread). The tenant's H-PS1 connector
uploaded 124 entries over real HTTPS: three signed before enrollment, the
entry by which its certificate's key vouches for that key, and 120 more.
H-PS2's connector uploaded 20 entries of which entry 17 was edited after it
was signed. H-PS3's connector was reinstalled: the first installation
uploaded 55 entries, the second a new chain of 4 (now the current one), and
a late upload of the first installation was refused. Another tenant's chain
must never show. Set COBRIDGE_SCREENSHOTS to keep screenshots.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bridge.tenant.errors import CloudApiError
from cloud.contract.admin import Role
from cloud.service import bootstrap
from tests.support.admin_center import PASSWORD, Tenant, tenant_with_users
from tests.support.browser import BrowserWorld, browser_world, sign_in_page
from tests.support.browser_captures import keep_screenshot, text
from tests.support.cloud_service import RunningService
from tests.support.connector_audit import Chain, enrolled_connector, local_signer, signer_in, wire
from tests.support.tenant_clients import admin_client

pytest_plugins = ["tests.support.browser_page"]
playwright_api = pytest.importorskip("playwright.sync_api")
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@dataclass
class Made:
    """The tenant whose pages are visited, and the other tenant."""

    tenant: Tenant
    other: Tenant
    other_marker: str
    reinstall: Reinstall


@dataclass
class Reinstall:
    """H-PS3's two installations: each one's connector and chain id."""

    old_connector: str
    old_chain: str
    new_connector: str
    new_chain: str


async def upload(service: RunningService, tenant: Tenant, hierarchy_id: str, tamper: int) -> None:
    """A connector of `hierarchy_id` that uploads its chain (entry `tamper` edited, if any)."""
    _, token = await bootstrap.create_token(
        service.state, tenant.tenant_id, tenant.user(Role.ADMIN), 1
    )
    async with admin_client(service, token) as admin:
        enrolled = await enrolled_connector(service, admin, hierarchy_id)
        local, certified = local_signer(), enrolled.signer
        chain = Chain()
        if tamper:
            chain.grow(certified, 20)
            edited = dataclasses.replace(
                chain.entries[tamper - 1], details={"slider": "cloud", "edited": True}
            )
            chain.entries[tamper - 1] = edited
        else:
            chain.grow(local, 3)
            chain.hand_over(certified, local)
            for n in range(120):
                chain.add(certified, target=f"WKS{n:05d}/compliancePolicy", action="handoff.force")
        signers = [signer_in(local), signer_in(certified)]
        async with enrolled.client as connector:
            for start in range(0, len(chain.entries), 50):
                batch = wire(chain.entries[start : start + 50])
                await connector.send_audit_entries(
                    batch, signers if start == 0 else [], chain_id=chain.id
                )


async def reinstalled(service: RunningService, tenant: Tenant, hierarchy_id: str) -> Reinstall:
    """A connector that uploaded 55 entries, reinstalled to upload 4 of a new chain; a late upload."""
    _, token = await bootstrap.create_token(
        service.state, tenant.tenant_id, tenant.user(Role.ADMIN), 1
    )
    async with admin_client(service, token) as admin:
        old = await enrolled_connector(service, admin, hierarchy_id)
        old_chain = Chain()
        old_chain.grow(old.signer, 56)
        new = await enrolled_connector(service, admin, hierarchy_id)
        new_chain = Chain()
        new_chain.grow(new.signer, 4)
        async with old.client as old_connector, new.client as new_connector:
            await old_connector.send_audit_entries(old_chain.span(1, 55), [signer_in(old.signer)])
            await new_connector.send_audit_entries(new_chain.span(1, 4), [signer_in(new.signer)])
            with pytest.raises(CloudApiError) as refused:
                await old_connector.send_audit_entries(
                    old_chain.span(56, 56), chain_id=old_chain.id
                )
            assert refused.value.code == "audit_chain_superseded"
    return Reinstall(old.connector_id, old_chain.id, new.connector_id, new_chain.id)


async def two_tenants(service: RunningService) -> Made:
    """The scenario's tenant with its chains, and another tenant with one of its own."""
    tenant = await tenant_with_users(service.state)
    await upload(service, tenant, "H-PS1", tamper=0)
    await upload(service, tenant, "H-PS2", tamper=17)
    reinstall = await reinstalled(service, tenant, "H-PS3")
    other = await tenant_with_users(service.state)
    marker = f"H-OTHER{uuid.uuid4().hex[:6].upper()}"
    await upload(service, other, marker, tamper=0)
    return Made(tenant, other, marker, reinstall)


World = BrowserWorld[Made]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The service with both tenants, and Chromium."""
    with browser_world(tmp_path_factory.mktemp("admin-connector-audit"), two_tenants) as made_world:
        yield made_world


def sign_in(page: Any, world: World, role: Role = Role.ADMIN) -> None:
    """Sign in as one of the scenario tenant's users."""
    tenant = world.made.tenant
    sign_in_page(page, tenant.name, tenant.user(role), PASSWORD)


def seqs(page: Any) -> list[int]:
    """The entries listed, in order."""
    cells = page.locator("table.connector-audit tbody th").all_inner_texts()
    return [int(c) for c in cells]


def test_a_verified_chain_from_the_audit_page(world: World, page: Any) -> None:
    sign_in(page, world)
    page.goto("/audit")
    logs = page.locator("#connector-logs")
    assert text(logs.locator("li[data-hierarchy=H-PS1]")) == "H-PS1 124 entries · verified"
    assert text(logs.locator("li[data-hierarchy=H-PS2]")) == (
        "H-PS2 20 entries · problem at entry 17"
    )
    assert world.made.other_marker not in page.content()
    logs.get_by_role("link", name="H-PS1").click()
    assert page.url.endswith("/audit/connector/H-PS1")
    assert text(page.locator("#chain-status")) == (
        "Chain verified: 124 entries, signed by the connector's certificate issued "
        "by this tenant (3 entries signed before enrollment, vouched for by that key)."
    )
    assert seqs(page) == list(range(124, 74, -1))
    newest = page.locator("tr[data-seq='124']")
    cells = newest.locator("td").all_inner_texts()
    assert cells[1:4] == ["cli:ana", "handoff.force", "WKS00119/compliancePolicy"]
    assert cells[-1] == "verified"
    keep_screenshot(page, "connector-audit-1280")

    page.get_by_role("link", name="Older →").click()
    assert seqs(page) == list(range(74, 24, -1))
    page.get_by_role("link", name="Older →").click()
    assert seqs(page) == list(range(24, 0, -1))
    assert page.get_by_role("link", name="Older →").count() == 0
    handover = text(page.locator("tr[data-seq='4']"))
    assert "audit.signer-changed" in handover
    keys = page.locator("ul.signers li").all_inner_texts()
    assert any("vouched for by entry 4" in k for k in keys)
    assert any("issued by this tenant's CA" in k for k in keys)
    page.get_by_role("link", name="← Newest").click()
    assert seqs(page)[0] == 124


def test_a_chain_with_an_edited_entry_names_it(world: World, page: Any) -> None:
    sign_in(page, world)
    page.goto("/audit/connector/H-PS2")
    assert text(page.locator("#chain-status")) == (
        "Problem at entry 17: entry 17 was edited: its content does not match its hash. "
        "Entries 1 to 16 are verified."
    )
    assert page.locator("#chain-status").get_attribute("data-state") == "failed"
    assert page.locator("ul.signers li").count() == 1, "the key that signed nothing is not listed"
    row = page.locator("tr[data-seq='17']")
    assert row.get_attribute("data-status") == "failed"
    assert "edited" in text(row)
    assert page.locator("tr[data-status=failed]").count() == 1
    assert page.locator("tr[data-seq='18']").get_attribute("data-status") == "verified"
    keep_screenshot(page, "connector-audit-problem-1280")


def test_a_reinstalled_connector_s_chains_and_the_refused_upload(world: World, page: Any) -> None:
    made = world.made.reinstall
    sign_in(page, world)
    page.goto("/audit")
    assert text(page.locator("#connector-logs li[data-hierarchy=H-PS3]")) == (
        "H-PS3 4 entries · verified"
    ), "the current chain"
    page.goto("/audit/connector/H-PS3")
    refusal = page.locator("#last-refusal")
    assert refusal.get_attribute("data-code") == "audit_chain_superseded"
    assert refusal.get_attribute("data-resolved") == "false"
    said = text(refusal)
    assert f"from connector {made.old_connector} for chain {made.old_chain[:12]}:" in said
    assert "superseded on" in said
    assert f"by chain {made.new_chain[:16]}" in said
    assert said.endswith("(audit_chain_superseded)")
    assert text(page.locator("#chain-status")).startswith("Chain verified: 4 entries")
    assert page.locator("#superseded").count() == 0

    chains = page.locator("#chains li")
    assert chains.count() == 2
    current, old = chains.nth(0), chains.nth(1)
    assert current.get_attribute("data-chain") == made.new_chain[:12]
    assert current.get_attribute("data-current") == "true"
    assert current.get_attribute("aria-current") == "page"
    assert text(current).startswith(
        f"Chain {made.new_chain[:12]} current · verified entries 1 to 4"
    )
    assert old.get_attribute("data-current") == "false"
    old_text = text(old)
    assert old_text.startswith(f"Chain {made.old_chain[:12]} superseded ")
    assert f"by {made.new_chain[:12]} · verified entries 1 to 55" in old_text
    assert seqs(page) == [4, 3, 2, 1]
    keep_screenshot(page, "connector-audit-chains-1280")

    old.get_by_role("link").click()
    assert page.url.endswith(f"/audit/connector/H-PS3?chain={made.old_chain}")
    assert text(page.locator("#chain-status")) == (
        "Chain verified: 55 entries, signed by the connector's certificate issued by this tenant."
    )
    assert f"by chain {made.new_chain[:12]}" in text(page.locator("#superseded"))
    assert page.locator("#chains li[aria-current]").get_attribute("data-current") == "false"
    assert seqs(page) == list(range(55, 5, -1))
    page.get_by_role("link", name="Older →").click()
    assert f"chain={made.old_chain}" in page.url, "paging stays in the chain"
    assert seqs(page) == [5, 4, 3, 2, 1]
    page.get_by_role("link", name="← Newest").click()
    assert seqs(page)[0] == 55
    page.get_by_role("link", name="The current chain").click()
    assert page.url.endswith("/audit/connector/H-PS3")
    assert seqs(page) == [4, 3, 2, 1]

    assert page.goto("/audit/connector/H-PS3?chain=nope").status == 400
    response = page.goto(f"/audit/connector/H-PS3?chain={'ab' * 32}")
    assert response.status == 404
    assert page.get_by_role("heading", name="No such chain").is_visible()
    # A hierarchy without refusals shows no refusal banner.
    page.goto("/audit/connector/H-PS1")
    assert page.locator("#last-refusal").count() == 0
    assert page.locator("#chains li").count() == 1


def test_only_admins_and_only_their_tenants_chains(world: World, page: Any) -> None:
    sign_in(page, world, Role.OPERATOR)
    response = page.goto("/audit/connector/H-PS1")
    assert response.status == 403
    page.context.clear_cookies()
    sign_in(page, world)
    response = page.goto(f"/audit/connector/{world.made.other_marker}")
    assert response.status == 404
    assert page.get_by_role("heading", name="No such hierarchy").is_visible()
    response = page.goto("/audit/connector/H-PS1?before=soon")
    assert response.status == 400


def test_connector_audit_pages_fit_a_390_pixel_screen(world: World, page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world)
    old_chain = f"/audit/connector/H-PS3?chain={world.made.reinstall.old_chain}"
    paths = ["/audit", "/audit/connector/H-PS1", "/audit/connector/H-PS2"]
    for path in (*paths, "/audit/connector/H-PS3", old_chain):
        page.goto(path)
        assert page.evaluate(OVERFLOW) <= 0, path
    keep_screenshot(page, "connector-audit-problem-390")
