"""Embedded sites for the system fault tests: seed, change, break and restore them.

A site is named the way the connector's `[site] db` names it: a SQLite file
path or a `postgresql://` URL. Seeding goes through `cobridge onprem seed`;
changes are made in this process (`touch`, `delete_devices`, `restore`), as an
administrator or a backup tool would make them, with the connector running or not.
`expected_devices` is what the tenant should hold, read with the site reader
and nothing of the connector's.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from installer.demo.site_generator import touch_site
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_records import SiteDevice
from onprem.site_schema import cobridge_site_identity, site_metadata
from tests.support.system_processes import cli


@contextlib.contextmanager
def site_engine(db: str) -> Iterator[sa.Engine]:
    """An engine on the site, disposed afterwards."""
    engine = create_site_engine(db)
    try:
        yield engine
    finally:
        engine.dispose()


def seed(db: str, devices: int, seed_value: int) -> None:
    """`cobridge onprem seed`: a realistic site with dirty data, deterministic for its seed."""
    cli("onprem", "seed", "--db", db, "--devices", str(devices), "--seed", str(seed_value))


def touch(db: str, devices: int, seed_value: int) -> tuple[int, int, int]:
    """Modify `devices` devices, add about a tenth, delete about a twentieth; the three counts."""
    with site_engine(db) as engine:
        report = touch_site(
            engine, devices=devices, seed=seed_value, as_of=datetime.now(UTC).replace(tzinfo=None)
        )
    return len(report.modified), len(report.added), len(report.deleted)


def site_devices(db: str) -> list[SiteDevice]:
    """Every record the site reader accepts (live or not), in ResourceID order."""
    with site_engine(db) as engine:
        return [item for item in SiteReader(engine).read() if isinstance(item, SiteDevice)]


def expected_devices(db: str) -> dict[str, str]:
    """SMSID -> content hash of every valid live record: what the tenant should hold.

    Less what the connector quarantined (the caller's business): those stay out.
    """
    return {d.smsid: d.content_hash for d in site_devices(db) if d.live}


def delete_devices(db: str, resource_ids: list[int]) -> None:
    """Remove devices from every site table keyed by ResourceID, as the site's own delete does."""
    with site_engine(db) as engine, engine.begin() as conn:
        for table in site_metadata.sorted_tables:
            if "ResourceID" not in table.c:
                continue
            for start in range(0, len(resource_ids), 500):
                chunk = resource_ids[start : start + 500]
                conn.execute(table.delete().where(table.c.ResourceID.in_(chunk)))


def instance_id(db: str) -> str:
    """The embedded site's own instance id."""
    with site_engine(db) as engine, engine.connect() as conn:
        return conn.execute(sa.select(cobridge_site_identity.c.instance_id)).scalar_one()


def set_instance_id(db: str, value: str | None = None) -> str:
    """Give the embedded site a new instance id, as a restore from backup does; the new id."""
    value = value or str(uuid.uuid4())
    with site_engine(db) as engine, engine.begin() as conn:
        conn.execute(cobridge_site_identity.update().values(instance_id=value))
    return value


def backup(path: Path, to: Path) -> None:
    """A consistent copy of a SQLite site (its WAL checkpointed into the copy)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("VACUUM INTO ?", (str(to),))
    finally:
        conn.close()


def restore(backup_file: Path, path: Path) -> str:
    """Put a backup in place of a SQLite site (no connector running); the new instance id.

    A restored database is a new instance: SQL Server gives it a new
    recovery fork, the embedded copy a new id in `cobridge_site_identity`.
    """
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    staged = path.with_suffix(".restoring")
    shutil.copyfile(backup_file, staged)
    staged.replace(path)
    return set_instance_id(str(path))


def pg_rename(admin_url: sa.URL, old: str, new: str) -> None:
    """Rename a PostgreSQL database, first closing every session on it (and keeping them out)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{old}" ALLOW_CONNECTIONS false')
            try:
                _rename_when_closed(conn, old, new)
            finally:
                name = new if _exists(conn, new) else old
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        admin.dispose()


def _rename_when_closed(conn: sa.Connection, old: str, new: str) -> None:
    # pg_terminate_backend only signals: a session may take a moment to go.
    for _ in range(100):
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": old},
        )
        try:
            conn.exec_driver_sql(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
            return
        except sa.exc.DBAPIError:
            time.sleep(0.05)
    raise AssertionError(f"sessions on {old} would not close")


def _exists(conn: sa.Connection, name: str) -> bool:
    found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    return found.first() is not None
