"""Admin center sign-in: principals' password hashes, web sessions, failed sign-ins.

Revision ID: 0003_admin_center_sign_in
Revises: 0002_held_deletes
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_admin_center_sign_in"
down_revision = "0002_held_deletes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "session_id"),
        sa.UniqueConstraint("session_id", name="uq_web_sessions_session_id"),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "principal_id"),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_table("web_sessions")
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.drop_column("password_hash")
