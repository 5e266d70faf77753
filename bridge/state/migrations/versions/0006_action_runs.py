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
        sa.PrimaryKeyConstraint("action_id", name=op.f("pk_connector_action_runs")),
    )


def downgrade() -> None:
    op.drop_table("connector_action_runs")
