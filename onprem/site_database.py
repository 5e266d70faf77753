"""Connections to a site database: URL handling, engines, and the error chokepoint.

Every statement against a site database runs inside `site_errors`, the one
place where SQLAlchemy and driver exceptions become `onprem.errors`, with the
host and database named and the password left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from onprem.errors import InvalidSiteUrl, SiteError, SiteReadFailed, SiteUnreachable
from workloads.sql import (
    SqliteSetup,
    create_sqlite_engine,
    describe_url,
    ensure_sqlite_directory,
    postgresql_connect_args,
    server_pool_options,
)

__all__ = [
    "create_site_engine",
    "describe_url",
    "parse_site_url",
    "site_errors",
]

# Keyed by the driver name as typed: an explicit driver (postgresql+psycopg2,
# mssql+pymssql) is the admin's choice and kept; the backend is checked after.
_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mssql": "mssql+pyodbc",
    "sqlserver": "mssql+pyodbc",
}
# WAL lets a reader stream while the generator or another process writes.
# Transaction control is taken from pysqlite, which defers BEGIN until the
# first write, so that a read transaction is one consistent snapshot.
_SQLITE = SqliteSetup(synchronous="NORMAL", begin="deferred")


def parse_site_url(text: str) -> sa.URL:
    """Turn what an admin typed into a SQLAlchemy URL.

    A bare file path means an embedded SQLite site; `postgresql://` and
    `mssql://` get the driver cobridge ships with or expects.
    """
    text = text.strip()
    if not text:
        raise InvalidSiteUrl("the site database URL is empty", hint="pass --db URL or a file path")
    if "://" not in text:
        return sa.make_url(f"sqlite:///{Path(text).expanduser()}")
    try:
        url = sa.make_url(text)
        url.port  # noqa: B018 - a non-numeric port fails here, not at connect time
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise InvalidSiteUrl(
            f"cannot parse the site database URL {text!r}",
            hint="use e.g. sqlite:///site.db, postgresql://host/db or mssql://host/CM_PS1",
        ) from exc
    if url.drivername in _DRIVERS:
        url = url.set(drivername=_DRIVERS[url.drivername])
    if url.get_backend_name() not in {"sqlite", "postgresql", "mssql"}:
        raise InvalidSiteUrl(
            f"unsupported site database type {url.get_backend_name()!r}",
            hint="a site database is SQL Server (mssql://); embedded copies are SQLite or PostgreSQL",
        )
    return url


def create_site_engine(
    url: sa.URL | str, *, pool_size: int = 5, must_exist: bool = False
) -> sa.Engine:
    """Create an engine for a site database; nothing connects until first use.

    With `must_exist` (the connector) an embedded site file is never created:
    a missing file is an error, not a new empty site. Embedded sites are
    opened afresh for every use (no pool), so a file replaced or restored
    under a running connector is the one read next.
    """
    if isinstance(url, str):
        url = parse_site_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        file_based = bool(url.database) and url.database != ":memory:"
        if file_based and must_exist:
            path = Path(url.database).resolve()  # type: ignore[arg-type]
            # SQLite's own URI form: mode=rw opens an existing file, never creates one.
            url = url.set(database=f"file:{path}", query={"mode": "rw", "uri": "true"})
        else:
            ensure_sqlite_directory(url)
        return create_sqlite_engine(url, _SQLITE, poolclass=sa.pool.NullPool)
    connect_args: dict[str, object] = {}
    if backend == "postgresql":
        connect_args = postgresql_connect_args("cobridge")
    elif backend == "mssql":
        connect_args = {"timeout": 10}
    return sa.create_engine(url, **server_pool_options(pool_size, connect_args, overflow=False))


@contextlib.contextmanager
def site_errors(engine: sa.Engine, action: str) -> Iterator[None]:
    """The chokepoint: translate database failures during `action` into project errors.

    Covers SQLAlchemy's exceptions and the driver's own (the reader fetches
    through the DB-API cursor).
    """
    where = describe_url(engine.url)
    try:
        yield
    except sa_exc.NoSuchModuleError as exc:
        raise SiteUnreachable(
            f"no database driver for {where}: {exc}",
            hint="install the driver package for this database type",
        ) from exc
    except sa_exc.InterfaceError as exc:
        raise SiteUnreachable(
            f"cannot use the site database driver for {where} while {action}: {_first_line(exc.orig)}",
            hint="for SQL Server install pyodbc and the Microsoft ODBC driver",
        ) from exc
    except sa_exc.DBAPIError as exc:
        raise _translated(exc.orig, where, action, invalidated=exc.connection_invalidated) from exc
    except Exception as exc:
        dbapi = getattr(engine.dialect, "loaded_dbapi", None)
        if dbapi is not None and isinstance(exc, dbapi.Error):
            raise _translated(exc, where, action, invalidated=False) from exc
        raise


def _translated(
    orig: BaseException | None, where: str, action: str, *, invalidated: bool
) -> SiteError:
    text = _first_line(orig)
    if invalidated or _is_connect_failure(orig):
        hint = (
            "check that the file exists and that this user may read and write it"
            if where.startswith("SQLite")
            else "check the host, port, database name and credentials, and that the "
            "server accepts connections from this machine"
        )
        return SiteUnreachable(
            f"cannot connect to the site database ({where}) while {action}: {text}", hint=hint
        )
    return SiteReadFailed(f"the site database ({where}) failed while {action}: {text}")


def _is_connect_failure(orig: BaseException | None) -> bool:
    text = str(orig).lower()
    return any(
        marker in text
        for marker in (
            "connection refused",
            "could not connect",
            "connection failed",
            "unable to open database",
            "could not translate host",
            "name or service not known",
            "timeout expired",
            "password authentication failed",
            "does not exist",
            "login failed",
        )
    )


def _first_line(orig: BaseException | None) -> str:
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
