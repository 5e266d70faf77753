"""Tables of rollouts: the orders operators gave and the status connectors reported."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    cloud_metadata,
    tenant_column,
)

# Rollout orders (cloud.contract.rollouts): what operators asked of a
# hierarchy's rollout engine, in the order asked (`seq`, unique per
# hierarchy), run once by its connector; the result is set once, with the
# digest that tells a repeated report from a conflicting one.
rollout_orders = sa.Table(
    "rollout_orders",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("order_id", ID, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("document", sa.JSON),
    sa.Column("plan_hash", sa.String(64)),
    sa.Column("reason", sa.String(500)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("requested_by_id", ID, nullable=False),
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("request_digest", sa.String(64), nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("done_at", sa.DateTime),
    sa.Column("result", sa.JSON),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.String(2000)),
    sa.Column("error_hint", sa.String(1000)),
    sa.Column("result_digest", sa.String(64)),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "order_id"),
    sa.UniqueConstraint("tenant_id", "hierarchy_id", "seq", name="uq_rollout_orders_seq"),
    sa.UniqueConstraint(
        "tenant_id",
        "hierarchy_id",
        "requested_by_id",
        "idempotency_key",
        name="uq_rollout_orders_idempotency",
    ),
    sa.Index("ix_rollout_orders_state", "tenant_id", "hierarchy_id", "state", "seq"),
)

# The rollout status each hierarchy's connector last reported, and its digest
# (a report equal to the one held changes nothing).
rollout_reports = sa.Table(
    "rollout_reports",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("status", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("reported_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)
