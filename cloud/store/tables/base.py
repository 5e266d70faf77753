"""The cloud store's one MetaData and the column types its tables share.

Times are stored as naive UTC; the API layer attaches the zone.
"""

from __future__ import annotations

import sqlalchemy as sa

cloud_metadata = sa.MetaData()


TENANT = sa.String(36)


ID = sa.String(36)


def sort_key(length: int) -> sa.types.TypeEngine:
    """A text column that lists sort and page by: byte order on every backend.

    SQLite compares bytes; PostgreSQL gets the "C" collation on the column, so
    its indexes serve the same order the queries ask for.
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


HIERARCHY = sa.String(64)


SMSID = sa.String(41)


def tenant_column() -> sa.Column:
    """The tenant id column every table keys by first (DESIGN.md section 4)."""
    return sa.Column("tenant_id", TENANT, nullable=False)
