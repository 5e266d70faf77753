"""Structural conformance of an adapter to a port (a Protocol), checked by inspection.

Protocols are not checked at run time: `unmet` compares every member a port
declares (in its own class and the ports it extends, not `typing`'s)
with the adapter: a method by its parameters, a property by its presence.
"""

from __future__ import annotations

import inspect
from typing import Any


def port_members(protocol: type) -> dict[str, Any]:
    """The port's members (methods and properties), from every port class it extends."""
    found: dict[str, Any] = {}
    for cls in reversed(protocol.__mro__):
        if cls.__module__ in ("typing", "builtins") or not getattr(cls, "_is_protocol", False):
            continue
        for name, value in vars(cls).items():
            if name.startswith("_") and name != "__iter__":
                continue
            if callable(value) or isinstance(value, property):
                found[name] = value
    return found


def _parameters(function: Any) -> list[tuple[str, Any]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind) for p in signature.parameters.values() if p.name != "self"]


def unmet(protocol: type, adapter: object) -> list[str]:
    """The members of `protocol` that `adapter` lacks or takes differently.

    `adapter` is an instance (properties are often instance attributes), or a
    class where the port has methods only.
    """
    adapter_class = adapter if isinstance(adapter, type) else type(adapter)
    problems = []
    for name, member in port_members(protocol).items():
        if isinstance(member, property):
            if not hasattr(adapter, name):
                problems.append(f"{name}: missing")
            continue
        implemented = getattr(adapter_class, name, None)
        if implemented is None:
            problems.append(f"{name}: missing")
        elif _parameters(implemented) != _parameters(member):
            problems.append(f"{name}: takes {_parameters(implemented)}")
    return problems
