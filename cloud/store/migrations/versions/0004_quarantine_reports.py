"""Quarantine reports of connectors: counts per reason and the newest refused records.

Revision ID: 0004_quarantine_reports
Revises: 0003_admin_center_sign_in
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_quarantine_reports"
down_revision = "0003_admin_center_sign_in"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine_reports",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
    )
    op.create_table(
        "quarantined_records",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("column_name", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=True),
        sa.Column("smsid", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "source", "record_key"),
    )
    with op.batch_alter_table("quarantined_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quarantined_records_reason",
            ["tenant_id", "hierarchy_id", "reason"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantined_records", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantined_records_reason")
    op.drop_table("quarantined_records")
    op.drop_table("quarantine_reports")
