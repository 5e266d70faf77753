"""Rollouts of desired co-management state: the document, the reviewed plan's hash, progress.

Revision ID: 0008_rollouts
Revises: 0007_audit_chain
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_rollouts"
down_revision = "0007_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_rollouts",
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("prior_settings", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("active_slot", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rollout_id", name=op.f("pk_connector_rollouts")),
        sa.UniqueConstraint("active_slot", name=op.f("uq_connector_rollouts_active_slot")),
    )


def downgrade() -> None:
    op.drop_table("connector_rollouts")
