"""Co-management authority: the cloud gate, reported records, the authority log, device secrets.

Revision ID: 0005_authority
Revises: 0004_quarantine_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_authority"
down_revision = "0004_quarantine_reports"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.String(length=36), nullable=False)


def _hierarchy() -> sa.Column:
    return sa.Column("hierarchy_id", sa.String(length=64), nullable=False)


def _smsid() -> sa.Column:
    return sa.Column("smsid", sa.String(length=41), nullable=False)


def _workload() -> sa.Column:
    return sa.Column("workload", sa.String(length=32), nullable=False)


def upgrade() -> None:
    op.create_table(
        "authority_gate",
        _tenant(),
        _hierarchy(),
        _smsid(),
        _workload(),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holds", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "smsid", "workload"),
    )
    op.create_index(
        "ix_authority_gate_workload", "authority_gate", ["tenant_id", "workload", "holds"]
    )
    op.create_table(
        "authority_states",
        _tenant(),
        _hierarchy(),
        _smsid(),
        _workload(),
        sa.Column("holder", sa.String(length=16), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=True),
        sa.Column("desired", sa.String(length=16), nullable=False),
        sa.Column("conflict", sa.String(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "smsid", "workload"),
    )
    op.create_index(
        "ix_authority_states_counts",
        "authority_states",
        ["tenant_id", "workload", "phase", "holder"],
    )
    op.create_table(
        "authority_sequences",
        _tenant(),
        _hierarchy(),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
    )
    op.create_table(
        "authority_gate_log",
        _tenant(),
        _hierarchy(),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        _smsid(),
        _workload(),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "seq"),
    )
    op.create_table(
        "authority_deliveries",
        _tenant(),
        _hierarchy(),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        _smsid(),
        _workload(),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "seq"),
    )
    op.create_table(
        "device_credentials",
        _tenant(),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("aad_device_id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "credential_id"),
        sa.UniqueConstraint("credential_id", name="uq_device_credentials_credential_id"),
    )
    op.create_index(
        "ix_device_credentials_aad", "device_credentials", ["tenant_id", "aad_device_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_device_credentials_aad", table_name="device_credentials")
    op.drop_table("device_credentials")
    op.drop_table("authority_deliveries")
    op.drop_table("authority_gate_log")
    op.drop_table("authority_sequences")
    op.drop_index("ix_authority_states_counts", table_name="authority_states")
    op.drop_table("authority_states")
    op.drop_index("ix_authority_gate_workload", table_name="authority_gate")
    op.drop_table("authority_gate")
