"""Active Directory computers as each hierarchy's connector merged them with the site.

Revision ID: 0006_directory_computers
Revises: 0005_authority
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_directory_computers"
down_revision = "0005_authority"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_computers",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("object_guid", sa.String(length=36), nullable=False),
        sa.Column("dn", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sam_account_name", sa.String(length=255), nullable=True),
        sa.Column("dns_host_name", sa.String(length=255), nullable=True),
        sa.Column("os", sa.String(length=255), nullable=True),
        sa.Column("os_version", sa.String(length=255), nullable=True),
        sa.Column("last_logon", sa.DateTime(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("match", sa.String(length=16), nullable=False),
        sa.Column("smsid", sa.String(length=41), nullable=True),
        sa.Column("discrepancy", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "object_guid"),
    )
    with op.batch_alter_table("directory_computers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_directory_computers_match", ["tenant_id", "hierarchy_id", "match"], unique=False
        )
        batch_op.create_index(
            "ix_directory_computers_smsid", ["tenant_id", "hierarchy_id", "smsid"], unique=False
        )
        batch_op.create_index("ix_directory_computers_name", ["tenant_id", "name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("directory_computers", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_computers_name")
        batch_op.drop_index("ix_directory_computers_smsid")
        batch_op.drop_index("ix_directory_computers_match")
    op.drop_table("directory_computers")
