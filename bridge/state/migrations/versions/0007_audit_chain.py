"""The connector's hash-chained, signed audit log.

Revision ID: 0007_audit_chain
Revises: 0006_action_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_audit_chain"
down_revision = "0006_action_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_connector_audit_log")),
    )


def downgrade() -> None:
    op.drop_table("connector_audit_log")
