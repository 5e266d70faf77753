"""The admin center: server-rendered pages for cloud admins, on the API listener.

Pages are not part of the JSON API: they are kept out of its route registry
and of /openapi.json, and sign in with a password and a session cookie
instead of a bearer token.
"""

from __future__ import annotations

from aiohttp import web

from cloud.admin_center import (
    routes_actions,
    routes_audit,
    routes_connector_audit,
    routes_connectors,
    routes_devices,
    routes_directory,
    routes_held_deletes,
    routes_places,
    routes_quarantine,
    routes_sign_in,
    routes_workloads,
)
from cloud.admin_center.count_cache import COUNTS_KEY, CountCache
from cloud.admin_center.web import Pages

PAGES: tuple[Pages, ...] = (
    routes_sign_in.pages,
    routes_devices.pages,
    routes_connectors.pages,
    routes_held_deletes.pages,
    routes_quarantine.pages,
    routes_audit.pages,
    routes_connector_audit.pages,
    routes_workloads.pages,
    routes_places.pages,
    routes_directory.pages,
    routes_actions.pages,
)


def install(app: web.Application) -> None:
    """Add every page of the admin center to the API listener's application."""
    app[COUNTS_KEY] = CountCache()
    for pages in PAGES:
        pages.install(app)


def page_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every page."""
    return {(r.method, r.path) for pages in PAGES for r in pages.routes}
