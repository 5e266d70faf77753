"""The connector's audit log as each hierarchy uploaded it: chains, entries, signing keys.

A hierarchy holds one chain per genesis (`chain_id`, the hash of entry 1):
the current one, and those it superseded; its row holds the last refusal.

Revision ID: 0008_connector_audit
Revises: 0007_device_actions
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_connector_audit"
down_revision = "0007_device_actions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_audit_hierarchies",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("current_chain", sa.String(length=64), nullable=True),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("refused_code", sa.String(length=64), nullable=True),
        sa.Column("refused_message", sa.String(length=1000), nullable=True),
        sa.Column("refused_at", sa.DateTime(), nullable=True),
        sa.Column("refused_connector", sa.String(length=36), nullable=True),
        sa.Column("refused_chain", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
    )
    op.create_table(
        "connector_audit_chains",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("started_by", sa.String(length=36), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),
        sa.Column("superseded_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "chain_id"),
    )
    op.create_table(
        "connector_audit_entries",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("plan_hash", sa.String(length=128), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("problem_kind", sa.String(length=32), nullable=True),
        sa.Column("problem_message", sa.String(length=1000), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "chain_id", "seq"),
    )
    with op.batch_alter_table("connector_audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_connector_audit_entries_status",
            ["tenant_id", "hierarchy_id", "chain_id", "status", "seq"],
            unique=False,
        )
        batch_op.create_index(
            "ix_connector_audit_entries_signer",
            ["tenant_id", "hierarchy_id", "signer", "status"],
            unique=False,
        )
    op.create_table(
        "connector_audit_signers",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("trusted_because", sa.String(length=255), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "signer"),
    )


def downgrade() -> None:
    op.drop_table("connector_audit_signers")
    with op.batch_alter_table("connector_audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_connector_audit_entries_signer")
        batch_op.drop_index("ix_connector_audit_entries_status")
    op.drop_table("connector_audit_entries")
    op.drop_table("connector_audit_chains")
    op.drop_table("connector_audit_hierarchies")
