"""The audit page over HTTP, on SQLite and PostgreSQL: admins only, filters, keyset pages.

Entries come from real audited calls (a release through the pages) and from
the store's own append, many at once, so paging crosses entries that share a
timestamp.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from cloud.contract.admin import Role
from cloud.store import tenancy
from tests.support.admin_center import attached
from tests.support.admin_pages import page, signed_in
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service

MODULE = pytest.mark.asyncio(loop_scope="module")
ROW = re.compile(r'<tr data-entry="([^"]+)">')


service = shared_service  # one service per module and backend


async def append(service: RunningService, tenant_id: str, count: int, action: str) -> None:
    """`count` entries of `action`, in threes sharing one timestamp (oldest first)."""
    start = service.clock() - timedelta(hours=1)
    async with service.state.engine.begin() as conn:
        for n in range(count):
            await tenancy.audit(
                conn,
                tenant_id=tenant_id,
                actor=f"principal:robot-{n % 2}",
                action=action,
                target=f"T{n:03d}",
                now=start + timedelta(seconds=n // 3),
                details={"n": n, "nested": {"k": [1, 2]}},
            )


@MODULE
async def test_admins_page_through_every_entry_once_newest_first(service: RunningService) -> None:
    world = await attached(service)
    await append(service, world.tenant.tenant_id, 120, "robot.test")
    async with await signed_in(service, world.tenant, Role.ADMIN) as http:
        seen: list[str] = []
        targets: list[str] = []
        url = f"{service.api_url}/audit?action=robot.test"
        while url:
            status, text = await page(http, url)
            assert status == 200
            seen.extend(ROW.findall(text))
            targets.extend(re.findall(r"<td class=.record.>(T\d{3})</td>", text))
            older = re.search(r'<a href="([^"]+)" rel="next">', text)
            url = f"{service.api_url}{older.group(1).replace('&amp;', '&')}" if older else ""
        assert len(seen) == len(set(seen)) == 120, "every entry once, across three filtered pages"
        assert sorted(targets) == [f"T{n:03d}" for n in range(120)]
        seconds = [int(t[1:]) // 3 for t in targets]  # entries in threes share a time
        assert seconds == sorted(seconds, reverse=True), "newest first"

        _, robots = await page(http, f"{service.api_url}/audit?actor=robot-1&action=robot.")
        assert len(ROW.findall(robots)) == 50
        assert "robot-0" not in robots
        _, everything = await page(http, f"{service.api_url}/audit")
        assert "connector.enroll" in everything, "the real calls' entries are there too"
        _, none = await page(http, f"{service.api_url}/audit?action=nothing.")
        assert "No audit entry matches." in none
        _, nested = await page(http, f"{service.api_url}/audit?action=robot.test")
        assert '{"k":[1,2]}' in nested.replace("&#34;", '"'), "nested details shown as JSON"
        status, _ = await page(http, f"{service.api_url}/audit?after=not-a-cursor")
        assert status == 400


@MODULE
async def test_only_admins_read_it_and_only_their_tenants(service: RunningService) -> None:
    a = await attached(service, "H-A")
    b = await attached(service, "H-B")
    await append(service, b.tenant.tenant_id, 3, "secret.change")
    for role in (Role.VIEWER, Role.OPERATOR):
        async with await signed_in(service, a.tenant, role) as http:
            status, _ = await page(http, f"{service.api_url}/audit")
            assert status == 403, role
            _, devices = await page(http, f"{service.api_url}/devices")
            assert 'href="/audit"' not in devices, "no link to a page the role cannot open"
    await append(service, a.tenant.tenant_id, 2, "robot.test")
    async with await signed_in(service, a.tenant, Role.ADMIN) as http:
        _, text = await page(http, f"{service.api_url}/audit?action=robot.")
    assert len(ROW.findall(text)) == 2
    assert "secret.change" not in text, "another tenant's entries and actions never show"
