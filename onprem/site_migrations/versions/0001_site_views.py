"""The site views of DOMAIN.md as tables, the *_Valid views, and the embedded identity.

Revision ID: 0001_site_views
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from onprem import site_schema

revision = "0001_site_views"
down_revision = None
branch_labels = None
depends_on = None

# The views are stated once, in onprem.site_schema; this revision builds its
# tables from there. A migration must never change what it built, so the list
# of tables is frozen here and so is the digest of their definitions as they
# were at this revision: if site_schema changes one of them, upgrade refuses
# to run (and tests/onprem/test_site_schema_frozen.py fails) until the change gets a
# revision of its own and this one is frozen by pasting the former definitions
# in place of the lookup below.
TABLES = (
    "v_R_System",
    "v_GS_OPERATING_SYSTEM",
    "v_GS_COMPUTER_SYSTEM",
    "v_GS_PC_BIOS",
    "v_CH_ClientSummary",
    "v_Collection",
    "v_FullCollectionMembership",
    "v_ClientCoManagementState",
    "v_Site",
    "cobridge_site_identity",
)
FROZEN_DIGEST = "3cf9f1c08ebed0b048b3e446833ca32c680d51f8f64273f3475b18fb6989849a"


def frozen_tables() -> list[sa.Table]:
    """The tables of this revision, checked against the digest frozen with it."""
    tables = [site_schema.site_metadata.tables[name] for name in TABLES]
    digest = site_schema.table_digest(tables)
    if digest != FROZEN_DIGEST:
        raise RuntimeError(
            f"onprem.site_schema no longer declares the tables of revision {revision} as "
            f"they were (digest {digest}): put the change in a new revision and freeze "
            f"{revision} with its former definitions"
        )
    return tables


def upgrade() -> None:
    for table in frozen_tables():
        op.create_table(
            table.name,
            *(
                sa.Column(
                    c.name,
                    c.type,
                    primary_key=c.primary_key,
                    nullable=c.nullable,
                    autoincrement=c.autoincrement,
                )
                for c in table.columns
            ),
        )
        for index in table.indexes:
            op.create_index(index.name, table.name, [c.name for c in index.columns])
    _create_valid_views()


def _create_valid_views() -> None:
    q = op.get_bind().dialect.identifier_preparer.quote
    live = f"COALESCE({q('Obsolete0')}, 0) = 0 AND COALESCE({q('Decommissioned0')}, 0) = 0"
    op.execute(
        f"CREATE VIEW {q('v_R_System_Valid')} AS SELECT * FROM {q('v_R_System')} WHERE {live}"
    )
    op.execute(
        f"CREATE VIEW {q('v_FullCollectionMembership_Valid')} AS SELECT * "
        f"FROM {q('v_FullCollectionMembership')} WHERE {q('ResourceID')} IN "
        f"(SELECT {q('ResourceID')} FROM {q('v_R_System')} WHERE {live})"
    )


def downgrade() -> None:
    for name in ("v_FullCollectionMembership_Valid", "v_R_System_Valid"):
        op.execute(f"DROP VIEW IF EXISTS {op.get_bind().dialect.identifier_preparer.quote(name)}")
    for table in reversed(TABLES):
        op.drop_table(table)
