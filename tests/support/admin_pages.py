"""Signed-in sessions and page fetches against the admin center over HTTP."""

from __future__ import annotations

import aiohttp

from cloud.contract.admin import Role
from tests.support.admin_center import PASSWORD, Tenant, new_session, sign_in
from tests.support.cloud_service import RunningService


async def signed_in(service: RunningService, tenant: Tenant, role: Role) -> aiohttp.ClientSession:
    """A cookie-keeping client signed in as the tenant's user of `role`."""
    http = new_session()
    status, _ = await sign_in(http, service.api_url, tenant.name, tenant.user(role), PASSWORD)
    assert status == 303
    return http


async def page(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """GET a page; (status, text)."""
    async with http.get(url, allow_redirects=False) as r:
        return r.status, await r.text()
