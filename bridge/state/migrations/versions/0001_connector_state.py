"""Connector state: sources, devices, outbox, counters, quarantine, held deletes, runs, lease.

Revision ID: 0001_connector_state
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_connector_state"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_connector_counters")),
    )
    op.create_table(
        "connector_devices",
        sa.Column("smsid", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("aad_device_id", sa.String(length=36), nullable=True),
        sa.Column("serial", sa.String(length=255), nullable=True),
        sa.Column("acked_sequence", sa.BigInteger(), nullable=False),
        sa.Column("tombstoned", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("smsid", name=op.f("pk_connector_devices")),
    )
    op.create_table(
        "connector_held_deletes",
        sa.Column("cycle_id", sa.String(length=64), nullable=False),
        sa.Column("smsid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("held_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=255), nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'released', 'discarded')",
            name=op.f("ck_connector_held_deletes_status"),
        ),
        sa.PrimaryKeyConstraint("cycle_id", "smsid", name=op.f("pk_connector_held_deletes")),
    )
    op.create_index(
        "uq_connector_held_deletes_active",
        "connector_held_deletes",
        ["smsid"],
        unique=True,
        sqlite_where=sa.text("status = 'held'"),
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_table(
        "connector_leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_connector_leases")),
    )
    op.create_table(
        "connector_outbox",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("upserts", sa.Integer(), nullable=False),
        sa.Column("tombstones", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("ack", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'acked', 'abandoned')", name=op.f("ck_connector_outbox_status")
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_connector_outbox")),
        sa.UniqueConstraint("sequence", name=op.f("uq_connector_outbox_sequence")),
    )
    op.create_index(
        op.f("ix_connector_outbox_status_sequence"),
        "connector_outbox",
        ["status", "sequence"],
        unique=False,
    )
    op.create_table(
        "connector_quarantine",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record_key", sa.String(length=160), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("column", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("smsid", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "record_key", name=op.f("pk_connector_quarantine")),
    )
    op.create_table(
        "connector_sources",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("instance_id", sa.String(length=512), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_connector_sources")),
    )
    op.create_table(
        "connector_sync_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('full', 'delta')", name=op.f("ck_connector_sync_runs_kind")),
        sa.CheckConstraint(
            "outcome IN ('ok', 'failed', 'partial')", name=op.f("ck_connector_sync_runs_outcome")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_connector_sync_runs")),
    )
    op.create_index(
        op.f("ix_connector_sync_runs_started_at"),
        "connector_sync_runs",
        ["started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_connector_sync_runs_started_at"), table_name="connector_sync_runs")
    op.drop_table("connector_sync_runs")
    op.drop_table("connector_sources")
    op.drop_table("connector_quarantine")
    op.drop_index(op.f("ix_connector_outbox_status_sequence"), table_name="connector_outbox")
    op.drop_table("connector_outbox")
    op.drop_table("connector_leases")
    op.drop_index(
        "uq_connector_held_deletes_active",
        table_name="connector_held_deletes",
        sqlite_where=sa.text("status = 'held'"),
        postgresql_where=sa.text("status = 'held'"),
    )
    op.drop_table("connector_held_deletes")
    op.drop_table("connector_devices")
    op.drop_table("connector_counters")
