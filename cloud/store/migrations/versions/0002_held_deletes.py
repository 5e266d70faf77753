"""The delete guard: held-delete reports of connectors, admins' release orders.

Revision ID: 0002_held_deletes
Revises: 0001_cloud_store
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_held_deletes"
down_revision = "0001_cloud_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_delete_reports",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
    )
    op.create_table(
        "delete_releases",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("release_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("cycle_id", sa.String(length=64), nullable=True),
        sa.Column("pending_key", sa.String(length=72), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_by_id", sa.String(length=36), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.Column("applied_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "release_id"),
        sa.UniqueConstraint(
            "tenant_id", "hierarchy_id", "pending_key", name="uq_delete_releases_pending"
        ),
    )
    with op.batch_alter_table("delete_releases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delete_releases_requested",
            ["tenant_id", "hierarchy_id", "requested_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("delete_releases", schema=None) as batch_op:
        batch_op.drop_index("ix_delete_releases_requested")
    op.drop_table("delete_releases")
    op.drop_table("held_delete_reports")
