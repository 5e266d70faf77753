"""Tables of the device inventory: devices, collections, events, batches, disputes, AD computers."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    SMSID,
    cloud_metadata,
    sort_key,
    tenant_column,
)

devices = sa.Table(
    "devices",
    cloud_metadata,
    tenant_column(),
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
    tenant_column(),
    sa.Column("collection_id", sa.String(8), nullable=False),
    sa.Column("device_id", ID, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "collection_id", "device_id"),
    sa.Index("ix_device_collections_device", "tenant_id", "device_id"),
)

collections = sa.Table(
    "collections",
    cloud_metadata,
    tenant_column(),
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
    tenant_column(),
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
    tenant_column(),
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
    tenant_column(),
    sa.Column("dispute_id", ID, nullable=False),
    sa.Column("key_name", sa.String(32), nullable=False),
    sa.Column("key_value", sa.String(255), nullable=False),
    sa.Column("candidates", sa.JSON, nullable=False),
    sa.Column("detected_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.PrimaryKeyConstraint("tenant_id", "dispute_id"),
    sa.UniqueConstraint("tenant_id", "key_name", "key_value", name="uq_disputes_key"),
)

# Active Directory computers (DESIGN.md section 5) as the hierarchy's connector
# merged them with its site: keyed by objectGUID, since an AD-only computer
# ("no agent") has no SMSID. `match` is dn, name_domain, none or disputed;
# `smsid` names the linked site record. Rows are never deleted by a report: a
# computer gone from AD keeps its row with `deleted_at` set.
directory_computers = sa.Table(
    "directory_computers",
    cloud_metadata,
    tenant_column(),
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
