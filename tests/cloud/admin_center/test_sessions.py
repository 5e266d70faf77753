"""Admin center sign-in, sessions, lockout, CSRF and isolation over HTTP, on SQLite and PostgreSQL.

Plain aiohttp clients play the browser (and the forger): these are the server's
rules, checked on both store backends. The browser tests drive the same pages
in Chromium.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from cloud.admin_center import page_routes
from cloud.contract.admin import Role
from cloud.service import bootstrap
from cloud.service.registry import all_endpoints
from cloud.store.schema import audit_log, devices, web_sessions
from cloud.store.web_sessions import SESSION_IDLE, purge_sessions
from tests.support.admin_center import (
    PASSWORD,
    csrf_of,
    new_session,
    seed_devices,
    sign_in,
    tenant_with_users,
)
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service

MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


def test_pages_stay_out_of_the_json_api() -> None:
    api = {(e.method, e.path) for e in all_endpoints()}
    assert not api & page_routes()
    assert ("GET", "/devices") in page_routes()


@MODULE
async def test_sign_in_sets_a_secure_session_cookie_and_sign_out_ends_it(
    service: RunningService,
) -> None:
    tenant = await tenant_with_users(service.state)
    async with new_session() as http:
        async with http.get(f"{service.api_url}/devices", allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"].startswith("/sign-in?next=")
        async with http.get(f"{service.api_url}/sign-in") as page:
            token = csrf_of(await page.text())
        form = {"csrf": token, "tenant": tenant.name, "user": tenant.user(Role.ADMIN)}
        form.update(password=PASSWORD, next="/devices?q=WKS")
        async with http.post(f"{service.api_url}/sign-in", data=form, allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/devices?q=WKS"
            cookie = next(v for v in r.headers.getall("Set-Cookie") if "session" in v)
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "secure", "samesite", "path"} <= attributes
        assert "samesite=lax" in cookie.lower()
        async with http.get(f"{service.api_url}/devices") as r:
            assert r.status == 200
            page = await r.text()
            assert tenant.user(Role.ADMIN) in page
        async with http.post(
            f"{service.api_url}/sign-out", data={"csrf": csrf_of(page)}, allow_redirects=False
        ) as r:
            assert r.status == 303
        async with http.get(f"{service.api_url}/devices", allow_redirects=False) as r:
            assert r.status == 303
    async with service.state.engine.connect() as conn:
        left = await conn.execute(
            sa.select(sa.func.count())
            .select_from(web_sessions)
            .where(web_sessions.c.tenant_id == tenant.tenant_id)
        )
        assert left.scalar_one() == 0, "sign-out deletes the session"
        actions = (
            await conn.execute(
                sa.select(audit_log.c.action).where(audit_log.c.tenant_id == tenant.tenant_id)
            )
        ).scalars()
        assert "principal.sign_in" in set(actions)


@MODULE
async def test_failures_answer_alike_for_wrong_password_unknown_user_and_tenant(
    service: RunningService,
) -> None:
    tenant = await tenant_with_users(service.state)
    answers = []
    async with new_session() as http:
        for tenant_ref, user, password in (
            (tenant.name, tenant.user(Role.VIEWER), "wrong password!"),
            (tenant.name, "nobody", PASSWORD),
            ("no-such-tenant", tenant.user(Role.VIEWER), PASSWORD),
            (tenant.tenant_id, tenant.user(Role.VIEWER), ""),
        ):
            status, text = await sign_in(http, service.api_url, tenant_ref, user, password)
            assert status == 401
            answers.append(text.split('role="alert">')[1].split("<")[0])
        assert len(set(answers)) == 1
        status, location = await sign_in(
            http, service.api_url, tenant.tenant_id, tenant.user(Role.VIEWER), PASSWORD
        )
        assert (status, location) == (303, "/devices"), "the tenant may be named by its id"


@MODULE
async def test_five_failures_lock_the_principal_for_fifteen_minutes(
    service: RunningService,
) -> None:
    tenant = await tenant_with_users(service.state)
    user = tenant.user(Role.OPERATOR)
    async with new_session() as http:
        for _ in range(5):
            status, _ = await sign_in(http, service.api_url, tenant.name, user, "not it at all")
            assert status == 401
        status, text = await sign_in(http, service.api_url, tenant.name, user, PASSWORD)
        assert status == 401, "the right password is refused while locked"
        assert "Sign-in failed" in text
        # Another principal of the tenant is not locked.
        status, _ = await sign_in(
            http, service.api_url, tenant.name, tenant.user(Role.ADMIN), PASSWORD
        )
        assert status == 303
    try:
        service.clock.offset_now = service.state.clock() + timedelta(minutes=16)
        async with new_session() as http:
            status, _ = await sign_in(http, service.api_url, tenant.name, user, PASSWORD)
            assert status == 303, "the lock ends after 15 minutes"
    finally:
        service.clock.offset_now = None


@MODULE
async def test_set_password_lifts_the_lock_and_ends_sessions(service: RunningService) -> None:
    tenant = await tenant_with_users(service.state)
    user = tenant.user(Role.ADMIN)
    async with new_session() as http:
        assert (await sign_in(http, service.api_url, tenant.name, user, PASSWORD))[0] == 303
        await bootstrap.set_password(service.state, tenant.name, user, "another long password")
        async with http.get(f"{service.api_url}/devices", allow_redirects=False) as r:
            assert r.status == 303, "a new password ends the sessions"
        status, _ = await sign_in(http, service.api_url, tenant.name, user, PASSWORD)
        assert status == 401
        status, _ = await sign_in(http, service.api_url, tenant.name, user, "another long password")
        assert status == 303


@MODULE
async def test_posts_without_the_session_csrf_token_are_refused(service: RunningService) -> None:
    tenant = await tenant_with_users(service.state)
    async with new_session() as http:
        # The sign-in form itself: no token, and a token of another browser.
        async with http.get(f"{service.api_url}/sign-in") as page:
            assert page.status == 200
        form = {"tenant": tenant.name, "user": tenant.user(Role.ADMIN), "password": PASSWORD}
        async with http.post(f"{service.api_url}/sign-in", data=form) as r:
            assert r.status == 403
        async with http.post(f"{service.api_url}/sign-in", data={**form, "csrf": "0" * 64}) as r:
            assert r.status == 403
        assert (await sign_in(http, service.api_url, tenant.name, form["user"], PASSWORD))[0] == 303
        for forged in ({}, {"csrf": ""}, {"csrf": "f" * 64}):
            async with http.post(
                f"{service.api_url}/sign-out", data=forged, allow_redirects=False
            ) as r:
                assert r.status == 403
        async with http.get(f"{service.api_url}/devices", allow_redirects=False) as r:
            assert r.status == 200, "a forged sign-out left the session alone"


@MODULE
async def test_a_session_sees_only_its_tenant(service: RunningService) -> None:
    a = await tenant_with_users(service.state)
    b = await tenant_with_users(service.state)
    await seed_devices(service.state, a.tenant_id, 3)
    await seed_devices(service.state, b.tenant_id, 4, site="PS2")
    async with service.state.engine.connect() as conn:
        b_ids = (
            (
                await conn.execute(
                    sa.select(devices.c.device_id).where(devices.c.tenant_id == b.tenant_id)
                )
            )
            .scalars()
            .all()
        )
    async with new_session() as http:
        assert (await sign_in(http, service.api_url, a.name, a.user(Role.VIEWER), PASSWORD))[
            0
        ] == 303
        async with http.get(f"{service.api_url}/devices") as r:
            page = await r.text()
            assert 'data-count="3"' in page
            assert "PS2" not in page
        for device_id in b_ids:
            async with http.get(f"{service.api_url}/devices/{device_id}") as r:
                assert r.status == 404
        async with http.get(f"{service.api_url}/devices/export.csv") as r:
            lines = (await r.text()).strip().splitlines()
            assert len(lines) == 4
            assert all(",PS2," not in line for line in lines)
    async with new_session() as http:
        # A user name of tenant B does not sign in to tenant A.
        status, _ = await sign_in(http, service.api_url, a.name, b.user(Role.ADMIN), PASSWORD)
        assert status == 401


@MODULE
async def test_idle_and_expired_sessions_are_purged(service: RunningService) -> None:
    tenant = await tenant_with_users(service.state)
    user = tenant.user(Role.VIEWER)
    async with new_session() as http:
        assert (await sign_in(http, service.api_url, tenant.name, user, PASSWORD))[0] == 303
    count = sa.select(sa.func.count()).select_from(web_sessions)
    mine = count.where(web_sessions.c.tenant_id == tenant.tenant_id)
    async with service.state.engine.begin() as conn:
        assert (await conn.execute(mine)).scalar_one() == 1
        # Still usable: nothing to purge.
        assert await purge_sessions(conn, service.clock()) == 0
        later = service.clock() + SESSION_IDLE + timedelta(seconds=1)
        assert await purge_sessions(conn, later) >= 1
        assert (await conn.execute(mine)).scalar_one() == 0
