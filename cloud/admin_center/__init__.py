"""The admin center: server-rendered pages for cloud admins, on the API listener.

Pages are not part of the JSON API: they are kept out of its route registry
and of /openapi.json, and sign in with a password and a session cookie
instead of a bearer token.

Its pages are found as the service's routes are: the `pages` of every
`routes_*` module of this package, in module-name order; the navigation is
collected from the entries declared on them.
"""

from __future__ import annotations

from aiohttp import web

from cloud.admin_center.count_cache import COUNTS_KEY, CountCache
from cloud.admin_center.navigation import NAV_KEY, NavLink, navigation
from cloud.admin_center.web import Pages
from cloud.service.registry import declared_in_route_modules

ADMIN_CENTER_PACKAGE = "cloud.admin_center"


def all_pages() -> list[Pages]:
    """The `Pages` of every route module of the admin center."""
    return declared_in_route_modules(ADMIN_CENTER_PACKAGE, "pages", Pages)


def nav_links(every: list[Pages]) -> tuple[NavLink, ...]:
    """The navigation declared on `every` set of pages, in its declared order."""
    return navigation((r.path, r.nav) for pages in every for r in pages.routes if r.nav)


def install(app: web.Application) -> None:
    """Add every page of the admin center, and its navigation, to the API listener's app."""
    every = all_pages()
    app[COUNTS_KEY] = CountCache()
    app[NAV_KEY] = nav_links(every)
    for pages in every:
        pages.install(app)


def page_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every page."""
    return {(r.method, r.path) for pages in all_pages() for r in pages.routes}
