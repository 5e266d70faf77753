"""The plumbing of the admin center's pages: registry, sessions, CSRF, rendering.

Each page is declared once with `Pages.page`, with its navigation entry if it
has one; `install` adds them to the API listener's application with one
wrapper that resolves the session cookie, checks the CSRF token of every POST,
and renders errors as HTML pages (the JSON error middleware lets a finished
response through untouched).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from cloud.admin_center.navigation import NAV_KEY, NavEntry, visible_links
from cloud.contract.admin import Role
from cloud.service.api import ROUTE_KEY, STATE_KEY, Call
from cloud.service.errors import ApiError
from cloud.service.state import ServiceState
from cloud.store import web_sessions
from cloud.store.tenancy import Principal

T = TypeVar("T")
SESSION_COOKIE = "__Host-cobridge-session"
# Set by the sign-in page: the CSRF token of its form is bound to it.
SIGN_IN_COOKIE = "__Host-cobridge-signin"
CSRF_FIELD = "csrf"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """A page cannot be shown; rendered as an HTML error page with `status`."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass
class Visit:
    """One request to a page, as its handler sees it."""

    request: web.Request
    state: ServiceState
    principal: Principal | None
    cookie: str | None

    @property
    def tenant_id(self) -> str:
        """The tenant every query of this page is scoped to."""
        assert self.principal is not None, "a page that needs a session got none"
        return self.principal.tenant_id

    @property
    def can_change(self) -> bool:
        """Whether controls that change something may be shown (operator and above)."""
        return self.principal is not None and self.principal.role.rank >= Role.OPERATOR.rank

    @property
    def is_admin(self) -> bool:
        """Whether admin-only controls (detach, release) may be shown."""
        return self.principal is not None and self.principal.role.rank >= Role.ADMIN.rank

    def require_admin(self) -> None:
        """Refuse the page (403) unless the principal is an admin."""
        if not self.is_admin:
            raise PageError(403, "Not allowed", "Only an admin of the tenant may do this.")

    async def api(self, handler: Callable[[Call], Awaitable[T]], body: Any = None) -> T:
        """Run an admin API handler for this visit's principal (same store path and audit).

        The page's path parameters are the handler's; an API error becomes a page error.
        """
        call = Call(request=self.request, state=self.state, principal=self.principal, body=body)
        try:
            return await handler(call)
        except ApiError as exc:
            raise PageError(exc.status, _TITLES.get(exc.status, "Refused"), exc.message) from None

    def render(self, template: str, *, status: int = 200, **context: Any) -> web.Response:
        """The page `template` filled with `context`, the principal and the CSRF token."""
        return render(self, template, status=status, **context)


_TITLES = {404: "Not found", 409: "Cannot do that now"}
PageHandler = Callable[[Visit], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class PageRoute:
    """The declaration of one page."""

    method: str
    path: str
    handler: PageHandler
    signed_in: bool
    nav: NavEntry | None = None


class Pages:
    """A set of pages, installable on the API listener's application."""

    def __init__(self) -> None:
        self.routes: list[PageRoute] = []

    def page(
        self, method: str, path: str, *, signed_in: bool = True, nav: NavEntry | None = None
    ) -> Callable[[PageHandler], PageHandler]:
        """Declare `handler` as the page for `method path`, in the navigation if `nav` is given."""
        if nav is not None and (method != "GET" or "{" in path):
            # A link can only point at a page one can GET without naming anything.
            raise ValueError(f"{method} {path} cannot be in the navigation")

        def register(handler: PageHandler) -> PageHandler:
            self.routes.append(PageRoute(method, path, handler, signed_in, nav))
            return handler

        return register

    def install(self, app: web.Application) -> None:
        """Add every page to `app`."""
        for route in self.routes:
            app.router.add_route(route.method, route.path, _wrap(route))


def csrf_token(cookie: str) -> str:
    """The CSRF token of forms shown under `cookie` (a session's or the sign-in page's).

    Derived from the cookie's value, which is HttpOnly: another site can make
    the browser send the cookie but cannot read it, so it cannot make the token.
    """
    return hmac.new(cookie.encode(), b"cobridge-admin-center-csrf", hashlib.sha256).hexdigest()


def csrf_valid(cookie: str | None, sent: object) -> bool:
    """Whether a form's token was made for this cookie."""
    if not cookie or not isinstance(sent, str):
        return False
    return hmac.compare_digest(csrf_token(cookie), sent)


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment (made on first use: nothing is read at import time)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cloud.admin_center", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    return env


def _when(value: Any) -> str:
    """A time as the pages show it: UTC, to the minute."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _ago(value: Any, now: datetime) -> str:
    """How long before `now` (naive UTC, the service's clock) a time was."""
    if value is None:
        return ""
    seconds = int((now - value.replace(tzinfo=None)).total_seconds())
    if seconds < 0:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def render(visit: Visit, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """An HTML response of `template`, with the security headers every page carries."""
    cookie = visit.cookie
    values = {
        "principal": visit.principal,
        "can_change": visit.can_change,
        "is_admin": visit.is_admin,
        "csrf": csrf_token(cookie) if cookie else "",
        "path": visit.request.path,
        "nav_links": visible_links(visit.request.app[NAV_KEY], is_admin=visit.is_admin),
        "now": visit.state.clock(),
    }
    values.update(context)
    text = environment().get_template(template).render(values)
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=_HEADERS
    )


def set_cookie(response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    """A cookie only this origin's pages get: Secure (HTTPS), HttpOnly, SameSite=Lax."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="Lax"
    )


def _wrap(route: PageRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        request[ROUTE_KEY] = route.path
        state = request.app[STATE_KEY]
        cookie = request.cookies.get(SESSION_COOKIE)
        principal = None
        if cookie:
            async with state.engine.connect() as conn:
                principal = await web_sessions.check_session(conn, cookie, state.clock())
                await conn.commit()
        visit = Visit(request, state, principal, cookie if principal else None)
        try:
            if route.signed_in and principal is None:
                if request.method != "GET":
                    raise PageError(403, "Signed out", "Your session has ended; sign in again.")
                raise web.HTTPSeeOther(f"/sign-in?{_next(request)}")
            if request.method == "POST" and route.signed_in:
                form = await request.post()
                if not csrf_valid(visit.cookie, form.get(CSRF_FIELD)):
                    raise PageError(
                        403, "Form expired", "The form was not sent from this session's page."
                    )
            return await route.handler(visit)
        except web.HTTPRedirection as redirect:
            # Returned rather than raised: the JSON error middleware re-raises it as is.
            return web.Response(status=redirect.status, headers={"Location": redirect.location})
        except PageError as exc:
            return render(
                visit, "error.html", status=exc.status, title=exc.title, message=exc.message
            )

    return handle


def _next(request: web.Request) -> str:
    return urlencode({"next": request.path_qs})
