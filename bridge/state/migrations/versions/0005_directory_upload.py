"""What of each directory computer the tenant has acknowledged (a digest of the sent record).

Revision ID: 0005_directory_upload
Revises: 0004_directory
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_directory_upload"
down_revision = "0004_directory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connector_directory_computers") as batch:
        batch.add_column(sa.Column("uploaded_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connector_directory_computers") as batch:
        batch.drop_column("uploaded_digest")
