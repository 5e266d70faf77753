"""Tables of the audit trails: the tenant's audit log and the connectors' hash-chained logs."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    cloud_metadata,
    tenant_column,
)

audit_log = sa.Table(
    "audit_log",
    cloud_metadata,
    tenant_column(),
    sa.Column("entry_id", ID, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(255)),
    sa.Column("details", sa.JSON),
    sa.PrimaryKeyConstraint("tenant_id", "entry_id"),
    sa.Index("ix_audit_log_at", "tenant_id", "at"),
)

# The connector's hash-chained audit log (cloud.contract.connector_audit), as
# each hierarchy's connectors uploaded it. A chain is named by its genesis
# (`chain_id`, the entry hash of its entry 1): a connector reinstalled with a
# fresh state store starts a new chain, which becomes the hierarchy's current
# one; the chain before it stays, marked superseded (when, by which chain).
# The hierarchy's row holds the current chain (its lock serialises uploads)
# and the last refused upload. Entries and keys are never rewritten; only an
# entry's `status` moves, from pending to verified, when a trusted key
# vouches for the key that signed it. Keys are the hierarchy's, across chains.
connector_audit_hierarchies = sa.Table(
    "connector_audit_hierarchies",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("current_chain", sa.String(64)),
    sa.Column("accepted_at", sa.DateTime),
    sa.Column("refused_code", sa.String(64)),
    sa.Column("refused_message", sa.String(1000)),
    sa.Column("refused_at", sa.DateTime),
    sa.Column("refused_connector", ID),
    sa.Column("refused_chain", sa.String(64)),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)

connector_audit_chains = sa.Table(
    "connector_audit_chains",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("chain_id", sa.String(64), nullable=False),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("started_by", ID, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("superseded_at", sa.DateTime),
    sa.Column("superseded_by", sa.String(64)),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "chain_id"),
)

connector_audit_entries = sa.Table(
    "connector_audit_entries",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("chain_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(512), nullable=False),
    # The canonical JSON text that was hashed.
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("plan_hash", sa.String(128)),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("signer", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(256), nullable=False),
    # verified, pending or failed; a failed entry says why.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("problem_kind", sa.String(32)),
    sa.Column("problem_message", sa.String(1000)),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "chain_id", "seq"),
    sa.Index(
        "ix_connector_audit_entries_status",
        "tenant_id",
        "hierarchy_id",
        "chain_id",
        "status",
        "seq",
    ),
    sa.Index("ix_connector_audit_entries_signer", "tenant_id", "hierarchy_id", "signer", "status"),
)

connector_audit_signers = sa.Table(
    "connector_audit_signers",
    cloud_metadata,
    tenant_column(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("signer", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("public_key_pem", sa.Text, nullable=False),
    sa.Column("certificate_pem", sa.Text),
    # Why the tenant trusts this key (its CA certified it, or a trusted key vouched for it).
    sa.Column("trusted_because", sa.String(255)),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "signer"),
)
