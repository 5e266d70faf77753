"""The embedded site's co-management side: settings, gate, published flags, authority log.

Revision ID: 0002_site_authority
Revises: 0001_site_views
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_site_authority"
down_revision = "0001_site_views"
branch_labels = None
depends_on = None

SMSID = sa.Unicode(64)
WORKLOAD = sa.Unicode(32)
ACTOR = sa.Unicode(256)


def upgrade() -> None:
    op.create_table(
        "cobridge_comanagement_settings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("auto_enrollment_scope", sa.Unicode(16), nullable=False),
        sa.Column("auto_enrollment_collection", sa.Unicode(8)),
        sa.Column("changed_by", ACTOR, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "cobridge_workload_settings",
        sa.Column("workload", WORKLOAD, primary_key=True),
        sa.Column("slider", sa.Unicode(16), nullable=False),
        sa.Column("pilot_collection", sa.Unicode(8)),
        sa.Column("changed_by", ACTOR, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "cobridge_site_gate",
        sa.Column("smsid", SMSID, primary_key=True),
        sa.Column("workload", WORKLOAD, primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("holds", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "cobridge_published_flags",
        sa.Column("smsid", SMSID, primary_key=True),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "cobridge_site_authority_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.Unicode(16), nullable=False),
        sa.Column("smsid", SMSID, nullable=False),
        sa.Column("workload", WORKLOAD, nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_cobridge_site_authority_log_at", "cobridge_site_authority_log", ["at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_cobridge_site_authority_log_at", "cobridge_site_authority_log")
    for table in (
        "cobridge_site_authority_log",
        "cobridge_published_flags",
        "cobridge_site_gate",
        "cobridge_workload_settings",
        "cobridge_comanagement_settings",
    ):
        op.drop_table(table)
