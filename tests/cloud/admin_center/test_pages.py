"""The connectors, quarantine and held-deletes pages over HTTP, on SQLite and PostgreSQL.

A connector enrolls and sends heartbeats (status, held deletes, quarantine) through the
real client; the pages must show them, and their detach and release forms
must keep the API's rules: admins only, CSRF, the session's tenant, the same
store path and audit entries.
"""

from __future__ import annotations

import re

import aiohttp
import pytest

from cloud.contract.admin import Role
from tests.support.admin_center import attached, csrf_of
from tests.support.admin_pages import page, signed_in
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client, audit_entries

MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


async def post(http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> int:
    """POST a form; the status (redirects not followed)."""
    async with http.post(url, data=form, allow_redirects=False) as r:
        return r.status


@MODULE
async def test_the_connectors_page_shows_heartbeat_status_and_connectors(
    service: RunningService,
) -> None:
    world = await attached(service)
    async with await signed_in(service, world.tenant, Role.VIEWER) as http:
        status, text = await page(http, f"{service.api_url}/connectors")
    assert status == 200
    for shown in ("H-PS1", "9.8.7", "1234", "Backlog", "12.5", "ago)"):
        assert shown in text, shown
    assert len(re.findall(r"<tr>\s*<td><code>", text)) == 1, "one connector row"
    assert "/detach" not in text, "a viewer gets no detach control"


@MODULE
async def test_only_admins_with_the_session_token_detach_and_release(
    service: RunningService,
) -> None:
    world = await attached(service)
    detach = f"{service.api_url}/connectors/{world.hierarchy_id}/detach"
    release = f"{service.api_url}/quarantine/{world.hierarchy_id}/release"
    for role in (Role.VIEWER, Role.OPERATOR):
        async with await signed_in(service, world.tenant, role) as http:
            _, text = await page(http, f"{service.api_url}/quarantine")
            assert "/release" not in text, role
            token = csrf_of(text)
            assert await post(http, detach, {"csrf": token}) == 403
            assert await post(http, release, {"csrf": token, "cycle": "c1"}) == 403
            assert (await page(http, f"{release}?cycle=c1"))[0] == 403
    async with await signed_in(service, world.tenant, Role.ADMIN) as http:
        for forged in ({}, {"csrf": "f" * 64}):
            assert await post(http, detach, forged) == 403
            assert await post(http, release, {**forged, "cycle": "c1"}) == 403
        _, text = await page(http, f"{service.api_url}/quarantine")
        assert f"/quarantine/{world.hierarchy_id}/release?cycle=c1" in text
    async with admin_client(service, world.token) as admin:
        assert await admin.delete_releases(world.hierarchy_id) == []
        hierarchy = next(h for h in await admin.list_hierarchies() if h.hierarchy_id == "H-PS1")
        assert hierarchy.detached_at is None
    assert await audit_entries(service, world.token) == []


@MODULE
async def test_an_admin_releases_through_the_confirmation_and_detaches(
    service: RunningService,
) -> None:
    world = await attached(service)
    base = f"{service.api_url}/quarantine/{world.hierarchy_id}/release"
    async with await signed_in(service, world.tenant, Role.ADMIN) as http:
        status, text = await page(http, f"{base}?cycle=c1")
        assert status == 200
        assert "600 devices" in text
        form = {"csrf": csrf_of(text), "cycle": "c1"}
        assert 'name="cycle" value="c1"' in text
        assert await post(http, base, form) == 303
        assert await post(http, base, form) == 303, "asking again changes nothing"
        _, text = await page(http, f"{service.api_url}/quarantine")
        assert "pending" in text
        assert world.tenant.user(Role.ADMIN) in text
        async with admin_client(service, world.token) as admin:
            orders = await admin.delete_releases(world.hierarchy_id)
            assert [(o.cycle_id, o.applied_at) for o in orders] == [("c1", None)]
        entries = await audit_entries(service, world.token)
        assert [e["action"] for e in entries] == ["held_deletes.release_requested"]
        assert entries[0]["actor"] == f"principal:{world.tenant.user(Role.ADMIN)}"

        detach = f"{service.api_url}/connectors/{world.hierarchy_id}/detach"
        status, text = await page(http, detach)
        assert status == 200
        assert await post(http, detach, {"csrf": csrf_of(text)}) == 303
        _, text = await page(http, f"{service.api_url}/connectors")
        assert "detached" in text
        assert f"/connectors/{world.hierarchy_id}/detach" not in text
    async with admin_client(service, world.token) as admin:
        hierarchy = next(h for h in await admin.list_hierarchies() if h.hierarchy_id == "H-PS1")
        assert hierarchy.detached_at is not None


@MODULE
async def test_another_tenants_hierarchy_is_not_found(service: RunningService) -> None:
    a = await attached(service, "H-A")
    b = await attached(service, "H-B")
    async with await signed_in(service, a.tenant, Role.ADMIN) as http:
        for path in ("/connectors", "/quarantine"):
            _, text = await page(http, f"{service.api_url}{path}")
            assert "H-A" in text, path
            assert "H-B" not in text, path
        token = csrf_of(text)
        for path in (
            "/connectors/H-B/detach",
            "/quarantine/H-B/release?cycle=c1",
            "/quarantine/H-B/records",
        ):
            assert (await page(http, f"{service.api_url}{path}"))[0] == 404, path
        assert await post(http, f"{service.api_url}/connectors/H-B/detach", {"csrf": token}) == 404
        release = f"{service.api_url}/quarantine/H-B/release"
        assert await post(http, release, {"csrf": token, "cycle": "c1"}) == 404
    async with admin_client(service, b.token) as admin:
        assert await admin.delete_releases("H-B") == []
        assert all(h.detached_at is None for h in await admin.list_hierarchies())


@MODULE
async def test_the_quarantine_shows_counts_reasons_and_pages_of_records(
    service: RunningService,
) -> None:
    world = await attached(service)
    records = f"{service.api_url}/quarantine/{world.hierarchy_id}/records"
    async with await signed_in(service, world.tenant, Role.VIEWER) as http:
        _, overview = await page(http, f"{service.api_url}/quarantine")
        assert "1,500</strong> records quarantined" in overview
        assert "Another live record has the same SMSID." in overview, "reasons are explained"
        # The overview lists the newest five: WKS00059 .. WKS00055.
        names = re.findall(r"<td class=.record.>(WKS\d{5})", overview)
        assert names == [f"WKS{n:05d}" for n in range(59, 54, -1)]

        status, first = await page(http, records)
        assert status == 200
        assert "Records 1 to 50 of 60 listed" in first
        assert "the newest 1,000" in first, "the page says the report lists fewer than all"
        assert len(re.findall(r"<tr data-key=", first)) == 50
        assert 'rel="next"' in first
        assert 'rel="prev"' not in first
        _, second = await page(http, f"{records}?page=2")
        assert "Records 51 to 60 of 60 listed" in second
        assert re.findall(r"<td class=.record.>(WKS\d{5})", second)[-1] == "WKS00000"

        _, by_reason = await page(http, f"{records}?reason=invalid_guid")
        assert "Records 1 to 40 of 40 listed" in by_reason
        assert "shared_smsid</code>" not in by_reason.split("<tbody>")[1]
        assert "not a GUID of the expected form" in by_reason
        status, _ = await page(http, f"{records}?reason=DROP%20TABLE")
        assert status == 400
        status, _ = await page(http, f"{service.api_url}/quarantine/H-NONE/records")
        assert status == 404
