"""Rollout orders to each hierarchy's connector, and the rollout status it last reported.

Revision ID: 0009_rollouts
Revises: 0008_connector_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_rollouts"
down_revision = "0008_connector_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout_orders",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("plan_hash", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_by_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=2000), nullable=True),
        sa.Column("error_hint", sa.String(length=1000), nullable=True),
        sa.Column("result_digest", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "order_id"),
        sa.UniqueConstraint("tenant_id", "hierarchy_id", "seq", name="uq_rollout_orders_seq"),
        sa.UniqueConstraint(
            "tenant_id",
            "hierarchy_id",
            "requested_by_id",
            "idempotency_key",
            name="uq_rollout_orders_idempotency",
        ),
    )
    with op.batch_alter_table("rollout_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rollout_orders_state",
            ["tenant_id", "hierarchy_id", "state", "seq"],
            unique=False,
        )
    op.create_table(
        "rollout_reports",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
    )


def downgrade() -> None:
    op.drop_table("rollout_reports")
    with op.batch_alter_table("rollout_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_rollout_orders_state")
    op.drop_table("rollout_orders")
