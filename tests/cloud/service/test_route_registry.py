"""The route and page registries are derived from the packages, never kept by hand.

A route module dropped into `cloud.service` (and a page module into
`cloud.admin_center`) is served, documented in /openapi.json and, for a page
with a navigation entry, linked from the navigation, without editing any
list. The navigation of a rendered page is exactly the registry's, admin-only
links hidden from other roles. Route precedence never depends on the order in
which modules are found: no two modules declare routes that match one URL.
"""

from __future__ import annotations

import html
import importlib
import pkgutil
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import pytest_asyncio
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

import cloud.admin_center
import cloud.service
from cloud.admin_center import all_pages, nav_links
from cloud.admin_center.navigation import NavEntry, navigation, visible_links
from cloud.admin_center.web import Pages
from cloud.contract.admin import Role
from cloud.service.api import Api
from cloud.service.registry import all_endpoints, declared_in_route_modules, service_apis
from tests.support.admin_center import PASSWORD, new_session, sign_in, tenant_with_users
from tests.support.cloud_service import RunningService, start_service

PROBE_ROUTES = '''
"""A route module that exists only while a test runs."""

from pydantic import BaseModel

from cloud.service.api import Api, Call

api = Api()


class RegistryProbe(BaseModel):
    """What the probe answers."""

    answer: str


@api.route(
    "GET",
    "/api/v1/registryProbe",
    auth="public",
    listener="admin",
    response=RegistryProbe,
    tags=("system",),
)
async def registry_probe(call: Call) -> RegistryProbe:
    """Answer that a module found by the scan is served."""
    return RegistryProbe(answer="served")
'''

PROBE_PAGES = '''
"""A page module that exists only while a test runs."""

from aiohttp import web

from cloud.admin_center.navigation import NavEntry
from cloud.admin_center.web import Pages, Visit

pages = Pages()


@pages.page("GET", "/registry-probe", nav=NavEntry("Registry probe", order=65))
async def registry_probe_page(visit: Visit) -> web.StreamResponse:
    """A page found by the scan."""
    return visit.render("place.html", title="Registry probe", text="served by the scan")
'''

NAV = re.compile(r'<nav aria-label="Admin center">(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)"[^>]*>([^<]*)</a>')
PARAM = re.compile(r"\{\w+\}")


def rendered_nav(page: str) -> list[tuple[str, str]]:
    """(href, label) of every link of a page's top navigation, in order."""
    found = NAV.search(page)
    assert found, "the page has no admin center navigation"
    return [(href, html.unescape(label)) for href, label in LINK.findall(found.group(1))]


def add_module(
    monkeypatch: pytest.MonkeyPatch, package: ModuleType, folder: Path, name: str, text: str
) -> str:
    """Make `name` a module of `package` for the test (a folder appended to its path)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    importlib.invalidate_caches()
    qualified = f"{package.__name__}.{name}"
    monkeypatch.delitem(sys.modules, qualified, raising=False)
    return qualified


@pytest.fixture
def probe_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A route module in `cloud.service` and a page module in `cloud.admin_center`."""
    added = [
        add_module(
            monkeypatch, cloud.service, tmp_path / "routes", "routes_zz_probe", PROBE_ROUTES
        ),
        add_module(
            monkeypatch, cloud.admin_center, tmp_path / "pages", "routes_zz_probe", PROBE_PAGES
        ),
    ]
    yield
    for name in added:
        sys.modules.pop(name, None)
        package, _, child = name.rpartition(".")
        vars(sys.modules[package]).pop(child, None)


@pytest_asyncio.fixture
async def probed_service(
    probe_modules: None, store_urls: tuple[sa.URL, sa.URL], tmp_path: Path
) -> AsyncIterator[RunningService]:
    """The service, started after the probe modules were added to the packages."""
    async for running in start_service(store_urls, tmp_path / "cloud"):
        yield running


# ---------------------------------------------------------------------------
# Found, served, documented, linked


def test_the_probe_is_absent_until_its_module_is_added() -> None:
    assert ("GET", "/api/v1/registryProbe") not in {(e.method, e.path) for e in all_endpoints()}
    assert "/registry-probe" not in {link.href for link in nav_links(all_pages())}


@pytest.mark.asyncio
async def test_a_route_module_added_to_the_package_is_served_documented_and_linked(
    probed_service: RunningService,
) -> None:
    service = probed_service
    assert ("GET", "/api/v1/registryProbe") in {(e.method, e.path) for e in all_endpoints()}
    http = service.session()
    async with http.get(f"{service.api_url}/api/v1/registryProbe") as r:
        assert r.status == 200
        assert await r.json() == {"answer": "served"}
    async with http.get(f"{service.api_url}/openapi.json") as r:
        doc = await r.json()
    operation = doc["paths"]["/api/v1/registryProbe"]["get"]
    assert operation["operationId"] == "registry_probe"
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RegistryProbe"
    }
    assert "RegistryProbe" in doc["components"]["schemas"]
    # The page module: served, and linked between Workloads (60) and Audit (70).
    tenant = await tenant_with_users(service.state)
    async with new_session() as browser:
        status, _ = await sign_in(
            browser, service.api_url, tenant.name, tenant.user(Role.ADMIN), PASSWORD
        )
        assert status == 303
        async with browser.get(f"{service.api_url}/registry-probe") as page:
            assert page.status == 200
            text = await page.text()
    assert "served by the scan" in text
    labels = [label for _, label in rendered_nav(text)]
    assert labels[labels.index("Registry probe") - 1 : labels.index("Registry probe") + 2] == [
        "Workloads",
        "Registry probe",
        "Audit",
    ]
    assert ("/registry-probe", "Registry probe") in rendered_nav(text)


@pytest.mark.asyncio
async def test_the_navigation_is_the_registry_admin_only_links_hidden_from_others(
    service: RunningService,
) -> None:
    links = nav_links(all_pages())
    declared = [(link.href, link.label) for link in links]
    admin_only = {link.href for link in links if link.entry.admin_only}
    assert admin_only == {"/audit"}
    tenant = await tenant_with_users(service.state)
    for role in Role:
        async with new_session() as browser:
            status, _ = await sign_in(
                browser, service.api_url, tenant.name, tenant.user(role), PASSWORD
            )
            assert status == 303
            async with browser.get(f"{service.api_url}/devices") as page:
                shown = rendered_nav(await page.text())
        if role is Role.ADMIN:
            assert shown == declared
        else:
            assert shown == [(href, label) for href, label in declared if href not in admin_only]


# ---------------------------------------------------------------------------
# The registries' rules


def _module_level(package: ModuleType, kind: type) -> dict[int, str]:
    """id -> module of every `kind` instance bound at module level anywhere in `package`."""
    found: dict[int, str] = {}
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, kind) and id(value) not in found:
                found[id(value)] = module.__name__
    return found


def test_every_api_and_every_set_of_pages_is_in_its_registry() -> None:
    # An Api or Pages declared outside a `routes_*` module would never be served.
    apis = {id(api) for api in service_apis()}
    assert _module_level(cloud.service, Api).keys() == apis
    pages = {id(p) for p in all_pages()}
    assert _module_level(cloud.admin_center, Pages).keys() == pages


def test_route_modules_are_registered_in_the_order_of_their_names() -> None:
    owners = _module_level(cloud.service, Api)
    names = [owners[id(api)] for api in service_apis()]
    assert names == sorted(names)
    assert "cloud.service.routes_common" not in names  # helpers, no `api`
    owners = _module_level(cloud.admin_center, Pages)
    names = [owners[id(p)] for p in all_pages()]
    assert names == sorted(names)


def test_a_route_module_whose_api_is_not_an_api_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = add_module(monkeypatch, cloud.service, tmp_path, "routes_zz_bad", "api = 3\n")
    try:
        with pytest.raises(TypeError, match=r"routes_zz_bad\.api is a int, not a Api"):
            declared_in_route_modules("cloud.service", "api", Api)
    finally:
        sys.modules.pop(name, None)
        vars(cloud.service).pop("routes_zz_bad", None)


def _overlap(a: str, b: str) -> bool:
    """Whether some URL matches both aiohttp path templates."""
    left, right = a.split("/"), b.split("/")
    if len(left) != len(right):
        return False  # a parameter never matches a slash
    witness = []
    for x, y in zip(left, right, strict=True):
        if "{" not in x and "{" not in y and x != y:
            return False
        witness.append(y if "{" in x else x)
    url = "/".join(PARAM.sub("x", part) for part in witness)
    return all(re.fullmatch(_pattern(template), url) for template in (a, b))


def _pattern(template: str) -> str:
    """The regular expression aiohttp matches a path template with (`{name}`: one segment)."""
    return "".join(
        "[^{}/]+" if PARAM.fullmatch(part) else re.escape(part)
        for part in re.split(r"(\{\w+\})", template)
    )


def _routes_by_module(listener: str) -> list[tuple[str, str, str]]:
    """(method, path, declaring module) of every route on `listener`."""
    routes = [
        (e.method, e.path, e.handler.__module__)
        for e in all_endpoints()
        if e.listener in (listener, "both")
    ]
    if listener == "admin":
        routes += [(r.method, r.path, r.handler.__module__) for p in all_pages() for r in p.routes]
    return routes


@pytest.mark.parametrize("listener", ["admin", "connector"])
def test_no_two_modules_declare_routes_that_match_one_url(listener: str) -> None:
    # So that aiohttp's precedence among routes never depends on the order of modules.
    routes = _routes_by_module(listener)
    clashes = [
        (a, b)
        for i, a in enumerate(routes)
        for b in routes[i + 1 :]
        if a[0] == b[0] and a[2] != b[2] and _overlap(a[1], b[1])
    ]
    assert not clashes
    assert _overlap("/devices/export.csv", "/devices/{deviceId}")
    assert not _overlap("/devices/{deviceId}", "/devices/{deviceId}/actions")


@pytest.mark.asyncio
async def test_a_literal_route_wins_over_a_parameter_of_its_module() -> None:
    app = web.Application()
    for api in service_apis():
        api.install(app, "admin")
    cloud.admin_center.install(app)
    for path, template in (
        ("/api/v1/devices/export", "/api/v1/devices/export"),
        ("/api/v1/devices/D1", "/api/v1/devices/{deviceId}"),
        ("/devices/export.csv", "/devices/export.csv"),
        ("/devices/D1", "/devices/{deviceId}"),
    ):
        match = await app.router.resolve(make_mocked_request("GET", path))
        assert match.route.resource is not None, path
        assert match.route.resource.canonical == template, path


# ---------------------------------------------------------------------------
# Navigation entries


def test_two_navigation_entries_may_not_share_an_order() -> None:
    with pytest.raises(ValueError, match="share order 10"):
        navigation([("/a", NavEntry("A", order=10)), ("/b", NavEntry("B", order=10))])


def test_a_page_is_in_the_navigation_at_most_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        navigation([("/a", NavEntry("A", order=10)), ("/a", NavEntry("A again", order=20))])


@pytest.mark.parametrize(("method", "path"), [("POST", "/things"), ("GET", "/things/{thingId}")])
def test_only_a_plain_get_page_can_be_in_the_navigation(method: str, path: str) -> None:
    with pytest.raises(ValueError, match="cannot be in the navigation"):
        Pages().page(method, path, nav=NavEntry("Things", order=10))


def test_links_are_ordered_by_their_entries_and_admin_only_ones_kept_for_admins() -> None:
    links = navigation(
        [
            ("/late", NavEntry("Late", order=30, admin_only=True)),
            ("/early", NavEntry("Early", order=10)),
        ]
    )
    assert [link.href for link in links] == ["/early", "/late"]
    assert [link.href for link in visible_links(links, is_admin=True)] == ["/early", "/late"]
    assert [link.href for link in visible_links(links, is_admin=False)] == ["/early"]
