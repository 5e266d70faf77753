"""Places of the admin center whose pages arrive with later work, and its stylesheet.

The layout keeps their place in the navigation now, so that it does not move
when they land; each says what it will show.
"""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web

from cloud.admin_center.web import Pages, Visit

pages = Pages()
# Path -> (title, what the page will show). None at the moment: the workloads
# page has landed (`routes_workloads`), its rollout progress keeps a place there.
PLACES: dict[str, tuple[str, str]] = {}


def _place(path: str, title: str, text: str) -> None:
    async def show(visit: Visit) -> web.StreamResponse:
        return visit.render("place.html", title=title, text=text)

    show.__doc__ = f"The {title} page (to come)."
    pages.page("GET", path)(show)


for _path, (_title, _text) in PLACES.items():
    _place(_path, _title, _text)


@functools.cache
def _stylesheet() -> bytes:
    return resources.files("cloud.admin_center").joinpath("static/admin.css").read_bytes()


@pages.page("GET", "/static/admin.css", signed_in=False)
async def stylesheet(visit: Visit) -> web.StreamResponse:
    """The admin center's only stylesheet, served from the package (no CDN)."""
    return web.Response(
        body=_stylesheet(),
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
