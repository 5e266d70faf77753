"""Device actions the connector claimed from its tenant, and how far each run got.

Revision ID: 0006_action_runs
Revises: 0005_directory_upload
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_action_runs"
down_revision = "0005_directory_upload"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_action_runs",
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("smsid", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('claimed', 'started', 'finished')",
            name=op.f("ck_connector_action_runs_state"),
        ),
        sa.PrimaryKeyConstraint("action_id", name=op.f("pk_connector_action_runs")),
    )
    with op.batch_alter_table("connector_action_runs") as batch:
        batch.create_index(
            batch.f("ix_connector_action_runs_state_reported_at"),
            ["state", "reported_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("connector_action_runs")
