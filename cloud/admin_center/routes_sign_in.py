"""Sign-in and sign-out of the admin center.

Every failure gets the same answer, whether the tenant or the user exists,
the password is wrong or the principal is locked, and takes as long (a
password hash is verified in every case): the page tells an attacker nothing
about which names exist. Five failures within 15 minutes lock the principal
for 15 minutes; the lock is audited.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from cloud.admin_center.web import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    PageError,
    Pages,
    Visit,
    csrf_token,
    csrf_valid,
    set_cookie,
)
from cloud.service.passwords import verify_password
from cloud.store import tenancy, web_sessions

pages = Pages()
FAILED = (
    "Sign-in failed. Check the tenant, user name and password. "
    "After repeated failures, sign-in is locked for 15 minutes."
)
_SIGN_IN_COOKIE_AGE = 3600


def _safe_next(target: str | None) -> str:
    # Only a path of this site: never another origin ("//host", "/\\host").
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/devices"


def _form(visit: Visit, cookie: str, *, status: int = 200, **values: str) -> web.Response:
    return visit.render(
        "sign_in.html",
        status=status,
        csrf=csrf_token(cookie),
        next=_safe_next(values.pop("next", None) or visit.request.query.get("next")),
        tenant=values.get("tenant", ""),
        user=values.get("user", ""),
        error=values.get("error"),
    )


@pages.page("GET", "/", signed_in=False)
async def home(visit: Visit) -> web.StreamResponse:
    """The admin center's entry: the devices page, or sign-in first."""
    raise web.HTTPSeeOther("/devices" if visit.principal else "/sign-in")


@pages.page("GET", "/sign-in", signed_in=False)
async def sign_in_form(visit: Visit) -> web.StreamResponse:
    """The sign-in form (tenant, user name, password)."""
    if visit.principal is not None:
        raise web.HTTPSeeOther(_safe_next(visit.request.query.get("next")))
    cookie = visit.request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    response = _form(visit, cookie)
    set_cookie(response, SIGN_IN_COOKIE, cookie, _SIGN_IN_COOKIE_AGE)
    return response


@pages.page("POST", "/sign-in", signed_in=False)
async def sign_in(visit: Visit) -> web.StreamResponse:
    """Check the credentials; on success start a session and go where the user was going."""
    form = await visit.request.post()
    cookie = visit.request.cookies.get(SIGN_IN_COOKIE)
    if not csrf_valid(cookie, form.get("csrf")):
        raise PageError(403, "Form expired", "Open the sign-in page again and retry.")
    assert cookie is not None
    tenant_ref, user = str(form.get("tenant", "")).strip(), str(form.get("user", "")).strip()
    password, target = str(form.get("password", "")), str(form.get("next", ""))
    state, now = visit.state, visit.state.clock()
    async with state.engine.connect() as conn:
        tenant = await tenancy.find_tenant(conn, tenant_ref) if tenant_ref else None
        candidate = None
        if tenant is not None and user:
            candidate = await web_sessions.sign_in_candidate(conn, tenant["tenant_id"], user, now)
    password_hash = candidate.password_hash if candidate and not candidate.locked else None
    matches = await verify_password(password_hash, password)
    if candidate is None or not matches:
        if candidate is not None and not candidate.locked:
            await _failed(visit, candidate.principal)
        return _form(
            visit, cookie, status=401, tenant=tenant_ref, user=user, next=target, error=FAILED
        )
    principal = candidate.principal
    async with state.engine.begin() as conn:
        await web_sessions.clear_failures(conn, principal.tenant_id, principal.principal_id)
        session = await web_sessions.create_session(conn, principal, now)
        await tenancy.audit(
            conn,
            tenant_id=principal.tenant_id,
            actor=principal.name,
            action="principal.sign_in",
            target=principal.principal_id,
            now=now,
        )
    response = web.Response(status=303, headers={"Location": _safe_next(target)})
    set_cookie(
        response, SESSION_COOKIE, session, int(web_sessions.SESSION_LIFETIME.total_seconds())
    )
    response.del_cookie(SIGN_IN_COOKIE, path="/", secure=True, httponly=True, samesite="Lax")
    return response


async def _failed(visit: Visit, principal: tenancy.Principal) -> None:
    now = visit.state.clock()
    async with visit.state.engine.begin() as conn:
        locked = await web_sessions.record_failure(
            conn, principal.tenant_id, principal.principal_id, now
        )
        if locked:
            await tenancy.audit(
                conn,
                tenant_id=principal.tenant_id,
                actor="admin-center",
                action="principal.sign_in_locked",
                target=principal.principal_id,
                now=now,
                details={"minutes": int(web_sessions.LOCK_TIME.total_seconds() // 60)},
            )


@pages.page("POST", "/sign-out")
async def sign_out(visit: Visit) -> web.StreamResponse:
    """End the session and go back to the sign-in page."""
    assert visit.cookie is not None
    async with visit.state.engine.begin() as conn:
        await web_sessions.end_session(conn, visit.cookie)
    response = web.Response(status=303, headers={"Location": "/sign-in"})
    response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Lax")
    return response
