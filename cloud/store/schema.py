"""Tables of the cloud store (SQLite embedded, PostgreSQL in production).

Times are stored as naive UTC; the API layer attaches the zone.
"""

from __future__ import annotations

import sqlalchemy as sa

cloud_metadata = sa.MetaData()

TENANT = sa.String(36)
ID = sa.String(36)


def sort_key(length: int) -> sa.types.TypeEngine:
    """A text column that lists sort and page by: byte order on every backend.

    SQLite compares bytes; PostgreSQL gets the "C" collation on the column, so
    its indexes serve the same order the queries ask for.
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


HIERARCHY = sa.String(64)
SMSID = sa.String(41)


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", TENANT, nullable=False)


service_secrets = sa.Table(
    "service_secrets",
    cloud_metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("public_pem", sa.Text, nullable=False),
    sa.Column("sealed_key", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

tenants = sa.Table(
    "tenants",
    cloud_metadata,
    sa.Column("tenant_id", TENANT, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("ca_cert_pem", sa.Text, nullable=False),
    sa.Column("ca_sealed_key", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

principals = sa.Table(
    "principals",
    cloud_metadata,
    _tenant(),
    sa.Column("principal_id", ID, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("disabled_at", sa.DateTime),
    # An argon2 hash for the admin center's sign-in; NULL: no password sign-in.
    sa.Column("password_hash", sa.String(255)),
    sa.PrimaryKeyConstraint("tenant_id", "principal_id"),
    sa.UniqueConstraint("tenant_id", "name", name="uq_principals_name"),
)

api_tokens = sa.Table(
    "api_tokens",
    cloud_metadata,
    _tenant(),
    sa.Column("token_id", ID, nullable=False),
    sa.Column("principal_id", ID, nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("last_used_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "token_id"),
    # Tokens carry their id; the lookup is by id alone, then the tenant is known.
    sa.UniqueConstraint("token_id", name="uq_api_tokens_token_id"),
)

attach_codes = sa.Table(
    "attach_codes",
    cloud_metadata,
    _tenant(),
    sa.Column("code_id", ID, nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hierarchy_id", HIERARCHY),
    sa.Column("created_by", ID, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("used_at", sa.DateTime),
    sa.Column("connector_id", ID),
    sa.PrimaryKeyConstraint("tenant_id", "code_id"),
)

connectors = sa.Table(
    "connectors",
    cloud_metadata,
    _tenant(),
    sa.Column("connector_id", ID, nullable=False),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("version", sa.String(64)),
    sa.Column("enrolled_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "connector_id"),
)

connector_certificates = sa.Table(
    "connector_certificates",
    cloud_metadata,
    _tenant(),
    sa.Column("serial", sa.String(40), nullable=False),
    sa.Column("connector_id", ID, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("certificate_pem", sa.Text, nullable=False),
    sa.Column("not_after", sa.DateTime, nullable=False),
    sa.Column("issued_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "serial"),
)

hierarchies = sa.Table(
    "hierarchies",
    cloud_metadata,
    _tenant(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("site_code", sa.String(3), nullable=False),
    sa.Column("site_name", sa.String(256)),
    sa.Column("site_version", sa.String(64)),
    sa.Column("connector_id", ID),
    sa.Column("connector_version", sa.String(64)),
    sa.Column("registered_at", sa.DateTime, nullable=False),
    sa.Column("last_heartbeat_at", sa.DateTime),
    sa.Column("last_applied_sequence", sa.BigInteger),
    sa.Column("status", sa.JSON),
    sa.Column("detached_at", sa.DateTime),
    sa.Column("purge_after", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)

devices = sa.Table(
    "devices",
    cloud_metadata,
    _tenant(),
    sa.Column("device_id", sort_key(36), nullable=False),
    # Attached devices: (hierarchy_id, smsid); MDM-only devices: both NULL.
    sa.Column("hierarchy_id", HIERARCHY),
    sa.Column("smsid", SMSID),
    sa.Column("site_code", sort_key(3)),
    sa.Column("resource_id", sa.BigInteger),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("name_key", sort_key(255), nullable=False),
    sa.Column("netbios_name", sa.String(255)),
    sa.Column("domain", sa.String(255)),
    sa.Column("fqdn", sa.String(255)),
    sa.Column("os_family", sort_key(64)),
    sa.Column("os_name", sa.Text),
    sa.Column("os_caption", sa.Text),
    sa.Column("os_version", sa.String(64)),
    sa.Column("os_build", sa.Integer),
    sa.Column("manufacturer", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("serial_number", sa.String(255)),
    sa.Column("user_name", sa.Text),
    sa.Column("distinguished_name", sa.Text),
    sa.Column("ad_site", sa.Text),
    sa.Column("is_virtual", sa.Boolean),
    sa.Column("aad_device_id", sa.String(36)),
    sa.Column("aad_tenant_id", sa.String(36)),
    sa.Column("client", sa.Boolean, nullable=False, default=False),
    sa.Column("client_version", sa.String(64)),
    sa.Column("client_active", sa.Boolean),
    sa.Column("health_evaluation", sort_key(8)),
    sa.Column("last_active_at", sa.DateTime),
    sa.Column("last_policy_request_at", sa.DateTime),
    sa.Column("last_hw_at", sa.DateTime),
    sa.Column("last_logon_at", sa.DateTime),
    sa.Column("site_created_at", sa.DateTime),
    sa.Column("site_mdm_enrolled", sa.Boolean, nullable=False, default=False),
    sa.Column("mdm_enrolled_at", sa.DateTime),
    sa.Column("comanagement_flags", sa.Integer),
    sa.Column("comanagement", sa.JSON),
    sa.Column("managed_by", sort_key(16), nullable=False),
    sa.Column("collections", sa.JSON),
    sa.Column("content_hash", sa.String(128)),
    sa.Column("sequence", sa.BigInteger),
    sa.Column("batch_id", ID),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("deleted_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "device_id"),
    sa.UniqueConstraint("tenant_id", "hierarchy_id", "smsid", name="uq_devices_site_key"),
    # One index per sortable field, ending in device_id, so every page of every
    # sort is an index range scan (keyset paging, DESIGN.md section 14, B3).
    sa.Index("ix_devices_name", "tenant_id", "name_key", "device_id"),
    sa.Index("ix_devices_last_active", "tenant_id", "last_active_at", "device_id"),
    sa.Index("ix_devices_os_build", "tenant_id", "os_build", "device_id"),
    sa.Index("ix_devices_os_family", "tenant_id", "os_family", "device_id"),
    sa.Index("ix_devices_managed_by", "tenant_id", "managed_by", "device_id"),
    sa.Index("ix_devices_site_code", "tenant_id", "site_code", "device_id"),
    sa.Index("ix_devices_health", "tenant_id", "health_evaluation", "device_id"),
    sa.Index("ix_devices_flags", "tenant_id", "comanagement_flags", "device_id"),
    sa.Index("ix_devices_updated", "tenant_id", "updated_at", "device_id"),
    sa.Index("ix_devices_aad", "tenant_id", "aad_device_id"),
    sa.Index("ix_devices_hierarchy", "tenant_id", "hierarchy_id", "deleted_at"),
)

device_collections = sa.Table(
    "device_collections",
    cloud_metadata,
    _tenant(),
    sa.Column("collection_id", sa.String(8), nullable=False),
    sa.Column("device_id", ID, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "collection_id", "device_id"),
    sa.Index("ix_device_collections_device", "tenant_id", "device_id"),
)

collections = sa.Table(
    "collections",
    cloud_metadata,
    _tenant(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("collection_id", sa.String(8), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("collection_type", sa.Integer, nullable=False),
    sa.Column("limit_to", sa.String(8)),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "collection_id"),
)

device_events = sa.Table(
    "device_events",
    cloud_metadata,
    _tenant(),
    sa.Column("device_id", ID, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sequence", sa.BigInteger),
    sa.Column("batch_id", ID),
    sa.Index("ix_device_events_device", "tenant_id", "device_id", "at"),
)

ingest_batches = sa.Table(
    "ingest_batches",
    cloud_metadata,
    _tenant(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("batch_id", ID, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("ack", sa.JSON, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "batch_id"),
)

identity_disputes = sa.Table(
    "identity_disputes",
    cloud_metadata,
    _tenant(),
    sa.Column("dispute_id", ID, nullable=False),
    sa.Column("key_name", sa.String(32), nullable=False),
    sa.Column("key_value", sa.String(255), nullable=False),
    sa.Column("candidates", sa.JSON, nullable=False),
    sa.Column("detected_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "dispute_id"),
    sa.UniqueConstraint("tenant_id", "key_name", "key_value", name="uq_disputes_key"),
)

audit_log = sa.Table(
    "audit_log",
    cloud_metadata,
    _tenant(),
    sa.Column("entry_id", ID, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(255)),
    sa.Column("details", sa.JSON),
    sa.PrimaryKeyConstraint("tenant_id", "entry_id"),
    sa.Index("ix_audit_log_at", "tenant_id", "at"),
)

# The delete guard (DESIGN.md section 6): the connector's latest report of the
# deletes it holds, one row per hierarchy, replaced by each report.
held_delete_reports = sa.Table(
    "held_delete_reports",
    cloud_metadata,
    _tenant(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("reported_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)

# Admins' release orders, delivered in heartbeat answers until applied.
delete_releases = sa.Table(
    "delete_releases",
    cloud_metadata,
    _tenant(),
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

# Admin center sessions: the cookie carries "<session_id>.<secret>"; only the
# secret's digest is kept. The lookup is by id alone, then the tenant is known.
web_sessions = sa.Table(
    "web_sessions",
    cloud_metadata,
    _tenant(),
    sa.Column("session_id", sa.String(32), nullable=False),
    sa.Column("principal_id", ID, nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "session_id"),
    sa.UniqueConstraint("session_id", name="uq_web_sessions_session_id"),
)

# Failed sign-ins per principal in the current window, and the lock they set.
sign_in_failures = sa.Table(
    "sign_in_failures",
    cloud_metadata,
    _tenant(),
    sa.Column("principal_id", ID, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_started_at", sa.DateTime, nullable=False),
    sa.Column("locked_until", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "principal_id"),
)

# Quarantine (DESIGN.md section 6): the connector's latest report, replaced by
# each report. The summary row holds every reason's count and the report's
# digest; the records are the newest the connector listed (a bounded sample).
quarantine_reports = sa.Table(
    "quarantine_reports",
    cloud_metadata,
    _tenant(),
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
    _tenant(),
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

# Co-management authority (DESIGN.md section 7). A device is (hierarchy_id,
# smsid) in its tenant, as the connector names it; workloads by Graph name.
WORKLOAD = sa.String(32)
HOLDER = sa.String(16)

# The cloud gate: the last grant or revoke it applied per (device, workload).
# No row: epoch 0 and no grant (`workloads.gate.initial_gate_record`).
authority_gate = sa.Table(
    "authority_gate",
    cloud_metadata,
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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

# Active Directory computers (DESIGN.md section 5) as the hierarchy's connector
# merged them with its site: keyed by objectGUID, since an AD-only computer
# ("no agent") has no SMSID. `match` is dn, name_domain, none or disputed;
# `smsid` names the linked site record. Rows are never deleted by a report: a
# computer gone from AD keeps its row with `deleted_at` set.
directory_computers = sa.Table(
    "directory_computers",
    cloud_metadata,
    _tenant(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("object_guid", sa.String(36), nullable=False),
    sa.Column("dn", sa.String(1024), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("sam_account_name", sa.String(255)),
    sa.Column("dns_host_name", sa.String(255)),
    sa.Column("os", sa.String(255)),
    sa.Column("os_version", sa.String(255)),
    sa.Column("last_logon", sa.DateTime),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("deleted_at", sa.DateTime),
    sa.Column("match", sa.String(16), nullable=False),
    sa.Column("smsid", SMSID),
    sa.Column("discrepancy", sa.Boolean, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "object_guid"),
    sa.Index("ix_directory_computers_match", "tenant_id", "hierarchy_id", "match"),
    sa.Index("ix_directory_computers_smsid", "tenant_id", "hierarchy_id", "smsid"),
    sa.Index("ix_directory_computers_name", "tenant_id", "name"),
)

# Device actions (DESIGN.md section 10): scripts admins approved, kept with the
# SHA-256 of their text; never deleted, only retired.
action_scripts = sa.Table(
    "action_scripts",
    cloud_metadata,
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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
    _tenant(),
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

# Rollout orders (cloud.contract.rollouts): what operators asked of a
# hierarchy's rollout engine, in the order asked (`seq`, unique per
# hierarchy), run once by its connector; the result is set once, with the
# digest that tells a repeated report from a conflicting one.
rollout_orders = sa.Table(
    "rollout_orders",
    cloud_metadata,
    _tenant(),
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
    _tenant(),
    sa.Column("hierarchy_id", HIERARCHY, nullable=False),
    sa.Column("status", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("reported_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
)
