"""Device actions: approved scripts, bulk requests, and the per-hierarchy action queue.

Revision ID: 0007_device_actions
Revises: 0006_directory_computers
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_device_actions"
down_revision = "0006_directory_computers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_scripts",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("script_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=False),
        sa.Column("approved_by_id", sa.String(length=36), nullable=False),
        sa.Column("approved_at", sa.DateTime(), nullable=False),
        sa.Column("retired_by", sa.String(length=128), nullable=True),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "script_id"),
    )
    op.create_table(
        "action_bulks",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("bulk_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_by_id", sa.String(length=36), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "bulk_id"),
        sa.UniqueConstraint(
            "tenant_id",
            "requested_by_id",
            "idempotency_key",
            name="uq_action_bulks_idempotency",
        ),
    )
    op.create_table(
        "device_actions",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("action_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("smsid", sa.String(length=41), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("device_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("schedule_id", sa.String(length=40), nullable=True),
        sa.Column("script_id", sa.String(length=36), nullable=True),
        sa.Column("script_sha256", sa.String(length=64), nullable=True),
        sa.Column("restart_delay_minutes", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("bulk_id", sa.String(length=36), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_by_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.String(length=36), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=128), nullable=True),
        sa.Column("exit_code", sa.BigInteger(), nullable=True),
        sa.Column("return_value", sa.BigInteger(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("output_truncated", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=2000), nullable=True),
        sa.Column("result_digest", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "action_id"),
        sa.UniqueConstraint(
            "tenant_id",
            "requested_by_id",
            "idempotency_key",
            name="uq_device_actions_idempotency",
        ),
    )
    with op.batch_alter_table("device_actions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_actions_queue",
            ["tenant_id", "hierarchy_id", "state", "requested_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_device_actions_device",
            ["tenant_id", "device_id", "requested_at", "action_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_device_actions_requested", ["tenant_id", "requested_at", "action_id"], unique=False
        )
        batch_op.create_index(
            "ix_device_actions_state",
            ["tenant_id", "state", "requested_at", "action_id"],
            unique=False,
        )
        batch_op.create_index("ix_device_actions_bulk", ["tenant_id", "bulk_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_device_actions_bulk")
        batch_op.drop_index("ix_device_actions_state")
        batch_op.drop_index("ix_device_actions_requested")
        batch_op.drop_index("ix_device_actions_device")
        batch_op.drop_index("ix_device_actions_queue")
    op.drop_table("device_actions")
    op.drop_table("action_bulks")
    op.drop_table("action_scripts")
