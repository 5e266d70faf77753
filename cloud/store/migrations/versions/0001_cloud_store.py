"""Cloud store: tenants, principals, tokens, attach codes, connectors, inventory, audit.

Revision ID: 0001_cloud_store
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_cloud_store"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("token_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "token_id"),
        sa.UniqueConstraint("token_id", name="uq_api_tokens_token_id"),
    )
    op.create_table(
        "attach_codes",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("code_id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("connector_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "code_id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "entry_id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["tenant_id", "at"], unique=False)

    op.create_table(
        "collections",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("collection_id", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("collection_type", sa.Integer(), nullable=False),
        sa.Column("limit_to", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "collection_id"),
    )
    op.create_table(
        "connector_certificates",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("connector_id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("not_after", sa.DateTime(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "serial"),
    )
    op.create_table(
        "connectors",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("connector_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "connector_id"),
    )
    op.create_table(
        "device_collections",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("collection_id", sa.String(length=8), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "collection_id", "device_id"),
    )
    with op.batch_alter_table("device_collections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_collections_device", ["tenant_id", "device_id"], unique=False
        )

    op.create_table(
        "device_events",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
    )
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_events_device", ["tenant_id", "device_id", "at"], unique=False
        )

    op.create_table(
        "devices",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column(
            "device_id",
            sa.String(length=36).with_variant(sa.String(length=36, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=True),
        sa.Column("smsid", sa.String(length=41), nullable=True),
        sa.Column(
            "site_code",
            sa.String(length=3).with_variant(sa.String(length=3, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("resource_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "name_key",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("netbios_name", sa.String(length=255), nullable=True),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("fqdn", sa.String(length=255), nullable=True),
        sa.Column(
            "os_family",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("os_name", sa.Text(), nullable=True),
        sa.Column("os_caption", sa.Text(), nullable=True),
        sa.Column("os_version", sa.String(length=64), nullable=True),
        sa.Column("os_build", sa.Integer(), nullable=True),
        sa.Column("manufacturer", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("serial_number", sa.String(length=255), nullable=True),
        sa.Column("user_name", sa.Text(), nullable=True),
        sa.Column("distinguished_name", sa.Text(), nullable=True),
        sa.Column("ad_site", sa.Text(), nullable=True),
        sa.Column("is_virtual", sa.Boolean(), nullable=True),
        sa.Column("aad_device_id", sa.String(length=36), nullable=True),
        sa.Column("aad_tenant_id", sa.String(length=36), nullable=True),
        sa.Column("client", sa.Boolean(), nullable=False),
        sa.Column("client_version", sa.String(length=64), nullable=True),
        sa.Column("client_active", sa.Boolean(), nullable=True),
        sa.Column(
            "health_evaluation",
            sa.String(length=8).with_variant(sa.String(length=8, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("last_active_at", sa.DateTime(), nullable=True),
        sa.Column("last_policy_request_at", sa.DateTime(), nullable=True),
        sa.Column("last_hw_at", sa.DateTime(), nullable=True),
        sa.Column("last_logon_at", sa.DateTime(), nullable=True),
        sa.Column("site_created_at", sa.DateTime(), nullable=True),
        sa.Column("site_mdm_enrolled", sa.Boolean(), nullable=False),
        sa.Column("mdm_enrolled_at", sa.DateTime(), nullable=True),
        sa.Column("comanagement_flags", sa.Integer(), nullable=True),
        sa.Column("comanagement", sa.JSON(), nullable=True),
        sa.Column(
            "managed_by",
            sa.String(length=16).with_variant(sa.String(length=16, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("collections", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "device_id"),
        sa.UniqueConstraint("tenant_id", "hierarchy_id", "smsid", name="uq_devices_site_key"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index("ix_devices_aad", ["tenant_id", "aad_device_id"], unique=False)
        batch_op.create_index(
            "ix_devices_flags", ["tenant_id", "comanagement_flags", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_health", ["tenant_id", "health_evaluation", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_hierarchy", ["tenant_id", "hierarchy_id", "deleted_at"], unique=False
        )
        batch_op.create_index(
            "ix_devices_last_active", ["tenant_id", "last_active_at", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_managed_by", ["tenant_id", "managed_by", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_name", ["tenant_id", "name_key", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_os_build", ["tenant_id", "os_build", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_os_family", ["tenant_id", "os_family", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_site_code", ["tenant_id", "site_code", "device_id"], unique=False
        )
        batch_op.create_index(
            "ix_devices_updated", ["tenant_id", "updated_at", "device_id"], unique=False
        )

    op.create_table(
        "hierarchies",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("site_code", sa.String(length=3), nullable=False),
        sa.Column("site_name", sa.String(length=256), nullable=True),
        sa.Column("site_version", sa.String(length=64), nullable=True),
        sa.Column("connector_id", sa.String(length=36), nullable=True),
        sa.Column("connector_version", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("last_applied_sequence", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.JSON(), nullable=True),
        sa.Column("detached_at", sa.DateTime(), nullable=True),
        sa.Column("purge_after", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id"),
    )
    op.create_table(
        "identity_disputes",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("dispute_id", sa.String(length=36), nullable=False),
        sa.Column("key_name", sa.String(length=32), nullable=False),
        sa.Column("key_value", sa.String(length=255), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "dispute_id"),
        sa.UniqueConstraint("tenant_id", "key_name", "key_value", name="uq_disputes_key"),
    )
    op.create_table(
        "ingest_batches",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("hierarchy_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("ack", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hierarchy_id", "batch_id"),
    )
    op.create_table(
        "principals",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "principal_id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_principals_name"),
    )
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("ca_cert_pem", sa.Text(), nullable=False),
        sa.Column("ca_sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("tenants")
    op.drop_table("service_secrets")
    op.drop_table("principals")
    op.drop_table("ingest_batches")
    op.drop_table("identity_disputes")
    op.drop_table("hierarchies")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_updated")
        batch_op.drop_index("ix_devices_site_code")
        batch_op.drop_index("ix_devices_os_family")
        batch_op.drop_index("ix_devices_os_build")
        batch_op.drop_index("ix_devices_name")
        batch_op.drop_index("ix_devices_managed_by")
        batch_op.drop_index("ix_devices_last_active")
        batch_op.drop_index("ix_devices_hierarchy")
        batch_op.drop_index("ix_devices_health")
        batch_op.drop_index("ix_devices_flags")
        batch_op.drop_index("ix_devices_aad")

    op.drop_table("devices")
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.drop_index("ix_device_events_device")

    op.drop_table("device_events")
    with op.batch_alter_table("device_collections", schema=None) as batch_op:
        batch_op.drop_index("ix_device_collections_device")

    op.drop_table("device_collections")
    op.drop_table("connectors")
    op.drop_table("connector_certificates")
    op.drop_table("collections")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")

    op.drop_table("audit_log")
    op.drop_table("attach_codes")
    op.drop_table("api_tokens")
