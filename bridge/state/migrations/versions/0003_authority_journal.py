"""The arbiter's journal: authority records per (device, workload), and their events.

Revision ID: 0003_authority_journal
Revises: 0002_device_model
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_authority_journal"
down_revision = "0002_device_model"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_authority",
        sa.Column("smsid", sa.String(length=64), nullable=False),
        sa.Column("workload", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=16), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=True),
        sa.Column("fence", sa.JSON(), nullable=True),
        sa.Column("conflict", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("reported", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "phase IN ('held', 'revoking', 'granting')", name=op.f("ck_connector_authority_phase")
        ),
        sa.PrimaryKeyConstraint("smsid", "workload", name=op.f("pk_connector_authority")),
    )
    with op.batch_alter_table("connector_authority") as batch:
        batch.create_index(batch.f("ix_connector_authority_phase"), ["phase"], unique=False)
        batch.create_index(batch.f("ix_connector_authority_reported"), ["reported"], unique=False)
    op.create_table(
        "connector_authority_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("smsid", sa.String(length=64), nullable=False),
        sa.Column("workload", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_connector_authority_events")),
    )
    with op.batch_alter_table("connector_authority_events") as batch:
        batch.create_index(batch.f("ix_connector_authority_events_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("connector_authority_events")
    op.drop_table("connector_authority")
