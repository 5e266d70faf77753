"""Active Directory computers merged with the site's devices, and directory passes.

Revision ID: 0004_directory
Revises: 0003_authority_journal
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_directory"
down_revision = "0003_authority_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_directory_computers",
        sa.Column("object_guid", sa.String(length=36), nullable=False),
        sa.Column("dn", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sam_account_name", sa.String(length=255), nullable=True),
        sa.Column("dns_host_name", sa.String(length=255), nullable=True),
        sa.Column("os", sa.String(length=255), nullable=True),
        sa.Column("os_version", sa.String(length=255), nullable=True),
        sa.Column("last_logon", sa.DateTime(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("matched_smsid", sa.String(length=64), nullable=True),
        sa.Column("match", sa.String(length=16), nullable=False),
        sa.Column("discrepancy", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "match IN ('dn', 'name_domain', 'none', 'disputed')",
            name=op.f("ck_connector_directory_computers_match"),
        ),
        sa.PrimaryKeyConstraint("object_guid", name=op.f("pk_connector_directory_computers")),
    )
    with op.batch_alter_table("connector_directory_computers") as batch:
        batch.create_index(
            batch.f("ix_connector_directory_computers_matched_smsid"),
            ["matched_smsid"],
            unique=False,
        )
    op.create_table(
        "connector_directory_passes",
        sa.Column("pass_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('full', 'delta')", name=op.f("ck_connector_directory_passes_kind")
        ),
        sa.CheckConstraint(
            "outcome IN ('ok', 'failed')", name=op.f("ck_connector_directory_passes_outcome")
        ),
        sa.PrimaryKeyConstraint("pass_id", name=op.f("pk_connector_directory_passes")),
    )


def downgrade() -> None:
    op.drop_table("connector_directory_passes")
    op.drop_table("connector_directory_computers")
