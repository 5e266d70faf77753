"""Tables of the connector's state store (SQLite embedded, PostgreSQL optional).

Times are stored as naive UTC. Every table name starts with `connector_`, so
the store can share a PostgreSQL database with other schemas. No secrets are
kept here: credentials live in the encrypted configuration.
"""

from __future__ import annotations

import sqlalchemy as sa

state_metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SOURCE = sa.String(32)
SMSID = sa.String(64)

sources = sa.Table(
    "connector_sources",
    state_metadata,
    sa.Column("source", SOURCE, primary_key=True),
    # A site's instance id joins server, database and recovery-fork GUIDs.
    sa.Column("instance_id", sa.String(512), nullable=False),
    sa.Column("cursor", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

devices = sa.Table(
    "connector_devices",
    state_metadata,
    sa.Column("smsid", SMSID, primary_key=True),
    sa.Column("resource_id", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("aad_device_id", sa.String(36)),
    sa.Column("serial", sa.String(255)),
    # The model, so serial + model can match a device whose record is gone (DESIGN.md 5).
    sa.Column("model", sa.String(255)),
    sa.Column("acked_sequence", sa.BigInteger, nullable=False),
    sa.Column("tombstoned", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

counters = sa.Table(
    "connector_counters",
    state_metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

outbox = sa.Table(
    "connector_outbox",
    state_metadata,
    sa.Column("batch_id", sa.String(36), primary_key=True),
    sa.Column("sequence", sa.BigInteger, nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    # The gzip of the batch's wire JSON; dropped once the batch is finished.
    sa.Column("payload", sa.LargeBinary),
    sa.Column("upserts", sa.Integer, nullable=False),
    sa.Column("tombstones", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("ack", sa.JSON),
    sa.Column("error", sa.Text),
    sa.CheckConstraint("status IN ('pending', 'acked', 'abandoned')", name="status"),
    sa.Index(None, "status", "sequence"),
)

quarantine = sa.Table(
    "connector_quarantine",
    state_metadata,
    sa.Column("source", SOURCE, primary_key=True),
    sa.Column("record_key", sa.String(160), primary_key=True),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("column", sa.String(128), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("resource_id", sa.Integer),
    sa.Column("smsid", sa.String(255)),
    sa.Column("name", sa.String(255)),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
)

held_deletes = sa.Table(
    "connector_held_deletes",
    state_metadata,
    sa.Column("cycle_id", sa.String(64), primary_key=True),
    sa.Column("smsid", SMSID, primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("held_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolved_by", sa.String(255)),
    # held -> released (by an admin) -> applied (its tombstone sent), or -> discarded
    # (the device came back to the site, before or after the release).
    sa.CheckConstraint("status IN ('held', 'released', 'applied', 'discarded')", name="status"),
    # A device is held by at most one cycle at a time.
    sa.Index(
        "uq_connector_held_deletes_active",
        "smsid",
        unique=True,
        sqlite_where=sa.text("status = 'held'"),
        postgresql_where=sa.text("status = 'held'"),
    ),
)

sync_runs = sa.Table(
    "connector_sync_runs",
    state_metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("outcome", sa.String(16)),
    sa.Column("counts", sa.JSON),
    sa.Column("error", sa.Text),
    sa.CheckConstraint("kind IN ('full', 'delta')", name="kind"),
    sa.CheckConstraint("outcome IN ('ok', 'failed', 'partial')", name="outcome"),
    sa.Index(None, "started_at"),
)

leases = sa.Table(
    "connector_leases",
    state_metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(255)),
    # Grows with every change of holder: a fencing token for whoever needs one.
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", sa.DateTime),
    sa.Column("expires_at", sa.DateTime),
)

# The arbiter's journal (DESIGN.md section 7): one authority record per
# (device, workload) that ever left its initial state (the site holding at
# epoch 0); a missing row is that initial record. Written before any command
# of its step is sent, so a restart resends exactly what is awaited.
authority = sa.Table(
    "connector_authority",
    state_metadata,
    sa.Column("smsid", SMSID, primary_key=True),
    sa.Column("workload", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(16)),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("target", sa.String(16)),
    sa.Column("fence", sa.JSON(none_as_null=True)),
    sa.Column("conflict", sa.String(255)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # Whether the tenant has this version of the record (its report is sent).
    sa.Column("reported", sa.Boolean, nullable=False),
    sa.CheckConstraint("phase IN ('held', 'revoking', 'granting')", name="phase"),
    sa.Index(None, "phase"),
    sa.Index(None, "reported"),
)

# What happened to authority records, oldest first: handoffs begun and
# settled, stale replies, forced handoffs (with who and why), conflicts.
authority_events = sa.Table(
    "connector_authority_events",
    state_metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("workload", sa.String(32), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("detail", sa.JSON(none_as_null=True)),
    sa.Index(None, "at"),
)

# Active Directory computers (DESIGN.md sections 5 and 6), merged with the site's
# devices. A row is never deleted: an object gone from AD keeps its row with
# `deleted_at` set, so a computer deleted from AD but still reporting to the
# site stays visible as a discrepancy.
directory_computers = sa.Table(
    "connector_directory_computers",
    state_metadata,
    sa.Column("object_guid", sa.String(36), primary_key=True),
    sa.Column("dn", sa.String(1024), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("sam_account_name", sa.String(255)),
    sa.Column("dns_host_name", sa.String(255)),
    sa.Column("os", sa.String(255)),
    sa.Column("os_version", sa.String(255)),
    sa.Column("last_logon", sa.DateTime),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("deleted_at", sa.DateTime),
    sa.Column("matched_smsid", SMSID),
    sa.Column("match", sa.String(16), nullable=False),
    # Deleted from AD while its matched site record is live and active.
    sa.Column("discrepancy", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # A digest of the record as last acknowledged by the tenant; None before.
    sa.Column("uploaded_digest", sa.String(64)),
    sa.CheckConstraint("match IN ('dn', 'name_domain', 'none', 'disputed')", name="match"),
    sa.Index(None, "matched_smsid"),
)

# One row per directory pass (newest kept), for status: how the last pass went.
directory_passes = sa.Table(
    "connector_directory_passes",
    state_metadata,
    sa.Column("pass_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("counts", sa.JSON),
    sa.Column("error", sa.Text),
    sa.CheckConstraint("kind IN ('full', 'delta')", name="kind"),
    sa.CheckConstraint("outcome IN ('ok', 'failed')", name="outcome"),
)

# Device actions claimed from the tenant and how far each run got (issue: actions
# relay); a run is recorded before its command is sent, so a restart never runs
# a non-idempotent action twice.
# `state`: claimed (nothing sent yet), started (the command may have been
# sent), finished (`result` holds the outcome; `reported_at` once the tenant
# acknowledged it, or at once when there is nothing to report).
action_runs = sa.Table(
    "connector_action_runs",
    state_metadata,
    sa.Column("action_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    # The claimed action itself, so that a restart can resume what never started.
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("result", sa.JSON(none_as_null=True)),
    sa.Column("reported_at", sa.DateTime),
    sa.CheckConstraint("state IN ('claimed', 'started', 'finished')", name="state"),
    sa.Index(None, "state", "reported_at"),
)

# The hash-chained audit log (bridge/audit): each entry holds the previous entry's
# hash and is signed with the connector's key. Rows are only ever inserted; the
# unique prev_hash makes a fork of the chain impossible even without the append lock.
audit_log = sa.Table(
    "connector_audit_log",
    state_metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(512), nullable=False),
    # The canonical JSON text of the details, exactly as hashed.
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("plan_hash", sa.String(128)),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    # Base64 of the DER ECDSA signature over the entry hash, and the signer's fingerprint.
    sa.Column("signature", sa.String(255), nullable=False),
    sa.Column("signer", sa.String(64), nullable=False),
    # A rollout's status reads its own entries (`target` names the rollout).
    sa.Index(None, "target", "seq"),
)

# The public key of every key that ever signed an audit entry (keys rotate with
# each certificate renewal), with its certificate chain when it was enrolled.
audit_signers = sa.Table(
    "connector_audit_signers",
    state_metadata,
    sa.Column("signer", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("public_key_pem", sa.Text, nullable=False),
    sa.Column("certificate_pem", sa.Text),
    sa.Column("first_used_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("kind IN ('connector', 'local')", name="kind"),
)

# Rollouts (DESIGN.md section 8): the desired-state document, the hash of the
# plan that was reviewed, the site's settings before it, and the rollout's
# state. `active_slot` is 1 for the one rollout not yet ended and NULL for the
# rest: the unique constraint makes a second active rollout impossible.
rollouts = sa.Table(
    "connector_rollouts",
    state_metadata,
    sa.Column("rollout_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("plan_hash", sa.String(64), nullable=False),
    sa.Column("prior_settings", sa.JSON, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("active_slot", sa.Integer, unique=True),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
