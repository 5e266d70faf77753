"""Device model for serial + model matching; released deletes become `applied` once sent.

Revision ID: 0002_device_model
Revises: 0001_connector_state
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_device_model"
down_revision = "0001_connector_state"
branch_labels = None
depends_on = None

_OLD = "status IN ('held', 'released', 'discarded')"
_NEW = "status IN ('held', 'released', 'applied', 'discarded')"


def upgrade() -> None:
    with op.batch_alter_table("connector_devices") as batch:
        batch.add_column(sa.Column("model", sa.String(length=255), nullable=True))
    with op.batch_alter_table("connector_held_deletes") as batch:
        batch.drop_constraint(op.f("ck_connector_held_deletes_status"), type_="check")
        batch.create_check_constraint("status", _NEW)


def downgrade() -> None:
    op.execute("UPDATE connector_held_deletes SET status = 'released' WHERE status = 'applied'")
    with op.batch_alter_table("connector_held_deletes") as batch:
        batch.drop_constraint(op.f("ck_connector_held_deletes_status"), type_="check")
        batch.create_check_constraint("status", _OLD)
    with op.batch_alter_table("connector_devices") as batch:
        batch.drop_column("model")
