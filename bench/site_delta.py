"""Changes B2 makes at an embedded (SQLite) site: an exact delta, a restore, one edit.

`apply_delta` reaches exactly the requested modified, new and deleted
counts: `touch_site` first (it modifies N, adds N/10 and deletes N/20 valid
live devices, the way a day at a site does), then more new devices built by
the generator's own `DeviceFactory` and more deletes of valid live devices
from every view, until the counts are met.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from installer.demo.site_generator import touch_site
from installer.demo.site_generator.catalog import BASE_RESOURCE_ID
from installer.demo.site_generator.device_factory import DeviceFactory
from installer.demo.site_generator.naming import NameAllocator, Salts
from installer.demo.site_generator.site_collections import SiteCollections
from installer.demo.site_generator.site_io import DeviceWriter, batches
from installer.demo.site_generator.touch import is_valid_live
from onprem.site_database import create_site_engine
from onprem.site_schema import cobridge_site_identity, site_metadata, v_R_System, v_Site


@dataclass(frozen=True)
class Delta:
    """What `apply_delta` changed, and how much of it `touch_site` did."""

    modified: int
    added: int
    deleted: int
    touched_added: int
    touched_deleted: int


def apply_delta(
    site: Path, *, modified: int, added: int, deleted: int, seed: int, as_of: datetime
) -> Delta:
    """Modify, add and delete exactly these many devices at the site (see module)."""
    engine = create_site_engine(f"sqlite:///{site}")
    try:
        touched = touch_site(engine, devices=modified, seed=seed, as_of=as_of)
        with engine.begin() as conn:
            rows = conn.execute(sa.select(v_R_System).order_by(v_R_System.c.ResourceID)).all()
            taken = set(touched.modified) | set(touched.added)
            live = [r.ResourceID for r in rows if is_valid_live(r) and r.ResourceID not in taken]
            more = sorted(
                random.Random(seed).sample(live[:-1], max(0, deleted - len(touched.deleted)))
            )
            _delete(conn, more)
            extra = max(0, added - len(touched.added))
            _add(conn, extra, [r.Name0 for r in rows], rows[-1].ResourceID, seed, as_of)
    finally:
        engine.dispose()
    return Delta(
        modified=len(touched.modified),
        added=len(touched.added) + extra,
        deleted=len(touched.deleted) + len(more),
        touched_added=len(touched.added),
        touched_deleted=len(touched.deleted),
    )


def _delete(conn: sa.Connection, ids: list[int]) -> None:
    for table in site_metadata.sorted_tables:
        if "ResourceID" in table.c:
            for batch in batches(ids):
                conn.execute(table.delete().where(table.c.ResourceID.in_(batch)))


def _add(
    conn: sa.Connection,
    count: int,
    names: list[str | None],
    highest: int,
    seed: int,
    as_of: datetime,
) -> None:
    """`count` new valid devices above `highest`, as `touch_site` builds its new ones."""
    if count == 0:
        return
    site_code = conn.execute(sa.select(v_Site.c.SiteCode).order_by(v_Site.c.SiteCode)).scalar()
    generator_seed = conn.execute(sa.select(cobridge_site_identity.c.generator_seed)).scalar()
    allocator = NameAllocator()
    allocator.resume(names)
    factory = DeviceFactory(
        as_of=as_of,
        site_code=site_code,
        dialect=conn.dialect.name,
        salts=Salts(seed if generator_seed is None else generator_seed),
        names=allocator,
        collections=SiteCollections(site_code),
    )
    first = max(highest + 1, BASE_RESOURCE_ID)
    devices = [
        factory.build(rid - BASE_RESOURCE_ID, random.Random(f"{seed}:bench:{rid}"), fresh=True)
        for rid in range(first, first + count)
    ]
    DeviceWriter(conn.dialect).write(conn, devices)


def restore_identity(site: Path) -> None:
    """Give the site a new instance id, as a restore from backup does: a full resync follows."""
    engine = create_site_engine(f"sqlite:///{site}")
    try:
        with engine.begin() as conn:
            conn.execute(cobridge_site_identity.update().values(instance_id=str(uuid.uuid4())))
    finally:
        engine.dispose()


def edit_user(site: Path, resource_id: int, user: str) -> None:
    """Set one device's primary user (v_R_System.User_Name0); waits out a reader's lock."""
    with sqlite3.connect(site, timeout=300) as conn:
        conn.execute(
            'UPDATE "v_R_System" SET "User_Name0" = ? WHERE "ResourceID" = ?', (user, resource_id)
        )
    conn.close()
