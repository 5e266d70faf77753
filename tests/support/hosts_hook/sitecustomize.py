"""Test-only name resolution: device names of a test answered with loopback addresses.

Devices of a seeded site have FQDNs no DNS server knows. A process test puts
this directory on the connector's PYTHONPATH and sets `WINRM_TEST_HOSTS` to
a JSON object {name: address}: Python imports this module at start-up (as
`sitecustomize`), and `getaddrinfo` then answers those names with their
address (the fake WinRM server's, or one where nothing listens); every other
name resolves as usual. In-process tests call `install` and `uninstall`.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

VARIABLE = "WINRM_TEST_HOSTS"
_original = socket.getaddrinfo
_names: dict[str, str] = {}


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if isinstance(host, str):
        host = _names.get(host.lower().rstrip("."), host)
    return _original(host, *args, **kwargs)


def install(names: dict[str, str]) -> None:
    """Answer these names (case-insensitive) with their addresses."""
    _names.update({name.lower().rstrip("."): address for name, address in names.items()})
    socket.getaddrinfo = _getaddrinfo


def uninstall() -> None:
    """Resolve every name as usual again."""
    _names.clear()
    socket.getaddrinfo = _original


if os.environ.get(VARIABLE):
    install(json.loads(os.environ[VARIABLE]))
