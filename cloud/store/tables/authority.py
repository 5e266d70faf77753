"""Tables of co-management authority (DESIGN.md section 7): gate, states, log, deliveries."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    SMSID,
    cloud_metadata,
    tenant_column,
)

# Co-management authority (DESIGN.md section 7). A device is (hierarchy_id,
# smsid) in its tenant, as the connector names it; workloads by Graph name.
WORKLOAD = sa.String(32)
HOLDER = sa.String(16)

# The cloud gate: the last grant or revoke it applied per (device, workload).
# No row: epoch 0 and no grant (`workloads.gate.initial_gate_record`).
authority_gate = sa.Table(
    "authority_gate",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("workload", WORKLOAD, nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("holds", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "smsid", "workload"),
    sa.Index("ix_authority_gate_workload", "tenant_id", "workload", "holds"),
)

# The arbiter's records as its connector reports them (never older ones).
authority_states = sa.Table(
    "authority_states",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("workload", WORKLOAD, nullable=False),
    sa.Column("holder", HOLDER),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("target", HOLDER),
    sa.Column("desired", HOLDER, nullable=False),
    sa.Column("conflict", sa.String(500)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "smsid", "workload"),
    sa.Index("ix_authority_states_counts", "tenant_id", "workload", "phase", "holder"),
)

# One row per hierarchy: the last sequence number of its authority log and the
# time of that entry. Every writer of the hierarchy's gate or log locks this row
# first, so entries commit in sequence order and their times never go back.
authority_sequences = sa.Table(
    "authority_sequences",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("last_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)

# Append-only: the grants and revokes the cloud gate applied (not the
# duplicates and stale ones it refused), for the invariant checker.
authority_gate_log = sa.Table(
    "authority_gate_log",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("workload", WORKLOAD, nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "seq"),
)

# Append-only: each workload a device check-in delivered, under which grant epoch.
authority_deliveries = sa.Table(
    "authority_deliveries",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("workload", WORKLOAD, nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "seq"),
)

# Devices' check-in secrets: "cbd_<credential_id>_<secret>"; only the secret's
# digest is kept, and the lookup is by id alone, then the tenant is known. A
# credential follows its device's Entra id, which survives the MDM record
# being linked to (and replaced by) the attached device.
device_credentials = sa.Table(
    "device_credentials",
    cloud_metadata,
    tenant_column(),
    sa.Column("credential_id", sa.String(32), nullable=False),
    sa.Column("device_id", ID, nullable=False),
    sa.Column("aad_device_id", sa.String(36), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "credential_id"),
    sa.UniqueConstraint("credential_id", name="uq_device_credentials_credential_id"),
    sa.Index("ix_device_credentials_aad", "tenant_id", "aad_device_id"),
)
