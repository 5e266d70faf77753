"""Tables of tenants and who acts for them: principals, tokens, sessions, connectors, hierarchies."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    TENANT,
    cloud_metadata,
    tenant_column,
)

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
    tenant_column(),
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
    tenant_column(),
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
    tenant_column(),
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
    tenant_column(),
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
    tenant_column(),
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
    tenant_column(),
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

# Admin center sessions: the cookie carries "<session_id>.<secret>"; only the
# secret's digest is kept. The lookup is by id alone, then the tenant is known.
web_sessions = sa.Table(
    "web_sessions",
    cloud_metadata,
    tenant_column(),
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
    tenant_column(),
    sa.Column("principal_id", ID, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_started_at", sa.DateTime, nullable=False),
    sa.Column("locked_until", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "principal_id"),
)
