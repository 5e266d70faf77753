"""The admin center's top navigation, declared on the pages it points to.

A page joins the navigation with `Pages.page(..., nav=NavEntry("Devices",
order=10))`; installing the admin center collects the entries of every page
into the application (`NAV_KEY`), and base.html renders them in `order`, the
admin-only ones to admins only. No list of entries is kept anywhere else.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class NavEntry:
    """How a page appears in the navigation: its label, its place, who sees it."""

    label: str
    order: int
    admin_only: bool = False


@dataclass(frozen=True)
class NavLink:
    """One link of the navigation: a page's path with the entry declared on it."""

    href: str
    entry: NavEntry

    @property
    def label(self) -> str:
        """The text of the link."""
        return self.entry.label


NAV_KEY = web.AppKey("admin_center_nav", tuple)


def navigation(declared: Iterable[tuple[str, NavEntry]]) -> tuple[NavLink, ...]:
    """The links of the navigation, in their declared order, from (path, entry) pairs.

    Two entries may not share an order or a path: the order of the links is
    stated by the pages, never left to the order in which they are found.
    """
    links = sorted((NavLink(path, entry) for path, entry in declared), key=_order)
    for before, after in itertools.pairwise(links):
        if before.entry.order == after.entry.order:
            raise ValueError(
                f"the navigation entries of {before.href} and {after.href} share order"
                f" {after.entry.order}"
            )
    hrefs = [link.href for link in links]
    if len(set(hrefs)) != len(hrefs):
        raise ValueError(f"a page is in the navigation twice: {hrefs}")
    return tuple(links)


def _order(link: NavLink) -> int:
    return link.entry.order


def visible_links(links: Iterable[NavLink], *, is_admin: bool) -> list[NavLink]:
    """The links a principal sees: all of them for an admin, the others without admin-only ones."""
    return [link for link in links if is_admin or not link.entry.admin_only]
