"""The connector's hash-chained, signed audit log, and the keys that signed it.

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
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("plan_hash", sa.String(length=128), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=255), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_connector_audit_log")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_connector_audit_log_prev_hash")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_connector_audit_log_entry_hash")),
    )
    with op.batch_alter_table("connector_audit_log") as batch:
        batch.create_index(
            batch.f("ix_connector_audit_log_target_seq"), ["target", "seq"], unique=False
        )
    op.create_table(
        "connector_audit_signers",
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("first_used_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('connector', 'local')", name=op.f("ck_connector_audit_signers_kind")
        ),
        sa.PrimaryKeyConstraint("signer", name=op.f("pk_connector_audit_signers")),
    )


def downgrade() -> None:
    op.drop_table("connector_audit_signers")
    op.drop_table("connector_audit_log")
