"""Tables of device actions (DESIGN.md section 10): approved scripts, bulk requests, actions."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    SMSID,
    cloud_metadata,
    tenant_column,
)

# Device actions (DESIGN.md section 10): scripts admins approved, kept with the
# SHA-256 of their text; never deleted, only retired.
action_scripts = sa.Table(
    "action_scripts",
    cloud_metadata,
    tenant_column(),
    sa.Column("script_id", ID, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("approved_by", sa.String(128), nullable=False),
    sa.Column("approved_by_id", ID, nullable=False),
    sa.Column("approved_at", sa.DateTime, nullable=False),
    sa.Column("retired_by", sa.String(128)),
    sa.Column("retired_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "script_id"),
)

# Bulk requests: the selection and count an operator confirmed, one row per request.
action_bulks = sa.Table(
    "action_bulks",
    cloud_metadata,
    tenant_column(),
    sa.Column("bulk_id", ID, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("selection", sa.JSON, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("requested_by_id", ID, nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    # The caller's idempotency key and the digest of its request (NULL: none given).
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("request_digest", sa.String(64), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "bulk_id"),
    sa.UniqueConstraint(
        "tenant_id", "requested_by_id", "idempotency_key", name="uq_action_bulks_idempotency"
    ),
)

# One row per action on one device, queued per hierarchy. `state` is queued,
# dispatched, running, succeeded, failed, expired or cancelled; the result
# columns are set once, with the digest that tells a repeat from a conflict.
device_actions = sa.Table(
    "device_actions",
    cloud_metadata,
    tenant_column(),
    sa.Column("action_id", ID, nullable=False),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("device_id", ID, nullable=False),
    sa.Column("device_name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("schedule_id", sa.String(40)),
    sa.Column("script_id", ID),
    sa.Column("script_sha256", sa.String(64)),
    sa.Column("restart_delay_minutes", sa.Integer),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("bulk_id", ID),
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("requested_by_id", ID, nullable=False),
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("request_digest", sa.String(64)),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("dispatched_at", sa.DateTime),
    sa.Column("deliveries", sa.Integer, nullable=False),
    sa.Column("connector_id", ID),
    sa.Column("started_at", sa.DateTime),
    sa.Column("completed_at", sa.DateTime),
    sa.Column("cancelled_by", sa.String(128)),
    sa.Column("exit_code", sa.BigInteger),
    sa.Column("return_value", sa.BigInteger),
    sa.Column("output", sa.Text),
    sa.Column("output_truncated", sa.Boolean, nullable=False),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.String(2000)),
    sa.Column("result_digest", sa.String(64)),
    sa.PrimaryKeyConstraint("tenant_id", "action_id"),
    sa.UniqueConstraint(
        "tenant_id", "requested_by_id", "idempotency_key", name="uq_device_actions_idempotency"
    ),
    sa.Index("ix_device_actions_queue", "tenant_id", "hierarchy_id", "state", "requested_at"),
    sa.Index("ix_device_actions_device", "tenant_id", "device_id", "requested_at", "action_id"),
    sa.Index("ix_device_actions_requested", "tenant_id", "requested_at", "action_id"),
    sa.Index("ix_device_actions_state", "tenant_id", "state", "requested_at", "action_id"),
    sa.Index("ix_device_actions_bulk", "tenant_id", "bulk_id"),
)
