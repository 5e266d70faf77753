"""The service's route registry, derived: the `api` of every `routes_*` module, by a scan.

A route module is served, and documented in the OpenAPI document, by being
added to the package; nothing lists the modules by hand. The admin center
finds its pages the same way (`declared_in_route_modules`).

The order is that of the module names, so routes are registered in the same
order on every start (aiohttp tries the routes that share a canonical prefix in
registration order); the OpenAPI document is sorted by path and method and so
does not depend on it.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import TypeVar

from cloud.service.api import Api, Endpoint

T = TypeVar("T")
ROUTE_MODULE_PREFIX = "routes_"
SERVICE_PACKAGE = "cloud.service"


def route_modules(package: str) -> list[ModuleType]:
    """Every `routes_*` module of `package`, imported, in the order of their names."""
    root = importlib.import_module(package)
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(root.__path__)
        if info.name.startswith(ROUTE_MODULE_PREFIX)
    )
    return [importlib.import_module(f"{package}.{name}") for name in names]


def declared_in_route_modules(package: str, attribute: str, kind: type[T]) -> list[T]:
    """The `attribute` of each route module of `package` that has one, in module-name order.

    A route module without it holds what the others share (`routes_common`);
    one whose `attribute` is not a `kind` is refused rather than left unserved.
    """
    found: list[T] = []
    for module in route_modules(package):
        value = getattr(module, attribute, None)
        if value is None:
            continue
        if not isinstance(value, kind):
            raise TypeError(
                f"{module.__name__}.{attribute} is a {type(value).__name__}, not a {kind.__name__}"
            )
        found.append(value)
    return found


def service_apis() -> list[Api]:
    """The `Api` of every route module of the service."""
    return declared_in_route_modules(SERVICE_PACKAGE, "api", Api)


def all_endpoints() -> list[Endpoint]:
    """Every endpoint of the service, from every route module."""
    return [e for api in service_apis() for e in api.endpoints]
