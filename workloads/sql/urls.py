"""Database URLs: the embedded SQLite default, driver choice, and safe display."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa


def sqlite_file_url(path: Path, driver: str = "sqlite") -> sa.URL:
    """The URL of the SQLite file at `path` (made absolute), through `driver`."""
    return sa.make_url(f"{driver}:///{path.resolve()}")


def with_driver(url: sa.URL, drivers: Mapping[str, str]) -> sa.URL | None:
    """`url` with the driver `drivers` names for its backend, or None for a backend not named.

    The driver a URL spells (`postgresql+asyncpg`) is replaced: each store
    ships with and is tested on one driver per backend.
    """
    driver = drivers.get(url.get_backend_name())
    return None if driver is None else url.set(drivername=driver)


def describe_url(url: sa.URL) -> str:
    """The URL as it may be shown to a user or written to a log: never the password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {(url.database or '').removeprefix('file:')}"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} database {url.database!r} on {host}{port} as {url.username or '(default user)'}"
