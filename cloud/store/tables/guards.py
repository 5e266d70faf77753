"""Tables of the sync guards: held deletes and their releases, quarantine reports."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    cloud_metadata,
    tenant_column,
)

# The delete guard (DESIGN.md section 6): the connector's latest report of the
# deletes it holds, one row per hierarchy, replaced by each report.
held_delete_reports = sa.Table(
    "held_delete_reports",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("reported_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)

# Admins' release orders, delivered in heartbeat answers until applied.
delete_releases = sa.Table(
    "delete_releases",
    cloud_metadata,
    tenant_column(),
    sa.Column("release_id", ID, nullable=False),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("cycle_id", sa.String(64)),
    # "cycle:<id>" or "all" while the order is pending, NULL once applied: the
    # unique key lets one equal order pend at a time, on every backend.
    sa.Column("pending_key", sa.String(72)),
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("requested_by_id", ID, nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("applied_at", sa.DateTime),
    sa.Column("applied_by", ID),
    sa.PrimaryKeyConstraint("tenant_id", "release_id"),
    sa.UniqueConstraint(
        "tenant_id", "hierarchy_id", "pending_key", name="uq_delete_releases_pending"
    ),
    sa.Index("ix_delete_releases_requested", "tenant_id", "hierarchy_id", "requested_at"),
)

# Quarantine (DESIGN.md section 6): the connector's latest report, replaced by
# each report. The summary row holds every reason's count and the report's
# digest; the records are the newest the connector listed (a bounded sample).
quarantine_reports = sa.Table(
    "quarantine_reports",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("reported_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)

quarantined_records = sa.Table(
    "quarantined_records",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("record_key", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("column_name", sa.String(128), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("resource_id", sa.BigInteger),
    sa.Column("smsid", sa.String(255)),
    sa.Column("name", sa.String(255)),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "source", "record_key"),
    sa.Index("ix_quarantined_records_reason", "tenant_id", "hierarchy_id", "reason"),
)
