"""Tables of the cloud store (SQLite embedded, PostgreSQL in production), gathered.

Each area keeps its tables in a module of `cloud.store.tables`, since they
change for separate reasons; this module is where the store, its migrations
and its tests find every table and the one `cloud_metadata`. Times are stored
as naive UTC; the API layer attaches the zone.
"""

from __future__ import annotations

from cloud.store.tables.actions import (
    action_bulks,
    action_scripts,
    device_actions,
)
from cloud.store.tables.audit import (
    audit_log,
    connector_audit_chains,
    connector_audit_entries,
    connector_audit_hierarchies,
    connector_audit_signers,
)
from cloud.store.tables.authority import (
    HOLDER,
    WORKLOAD,
    authority_deliveries,
    authority_gate,
    authority_gate_log,
    authority_sequences,
    authority_states,
    device_credentials,
)
from cloud.store.tables.base import (
    HIERARCHY,
    ID,
    SMSID,
    TENANT,
    cloud_metadata,
    sort_key,
)
from cloud.store.tables.guards import (
    delete_releases,
    held_delete_reports,
    quarantine_reports,
    quarantined_records,
)
from cloud.store.tables.inventory import (
    collections,
    device_collections,
    device_events,
    devices,
    directory_computers,
    identity_disputes,
    ingest_batches,
)
from cloud.store.tables.rollouts import (
    rollout_orders,
    rollout_reports,
)
from cloud.store.tables.tenancy import (
    api_tokens,
    attach_codes,
    connector_certificates,
    connectors,
    hierarchies,
    principals,
    service_secrets,
    sign_in_failures,
    tenants,
    web_sessions,
)

__all__ = [
    "HIERARCHY",
    "HOLDER",
    "ID",
    "SMSID",
    "TENANT",
    "WORKLOAD",
    "action_bulks",
    "action_scripts",
    "api_tokens",
    "attach_codes",
    "audit_log",
    "authority_deliveries",
    "authority_gate",
    "authority_gate_log",
    "authority_sequences",
    "authority_states",
    "cloud_metadata",
    "collections",
    "connector_audit_chains",
    "connector_audit_entries",
    "connector_audit_hierarchies",
    "connector_audit_signers",
    "connector_certificates",
    "connectors",
    "delete_releases",
    "device_actions",
    "device_collections",
    "device_credentials",
    "device_events",
    "devices",
    "directory_computers",
    "held_delete_reports",
    "hierarchies",
    "identity_disputes",
    "ingest_batches",
    "principals",
    "quarantine_reports",
    "quarantined_records",
    "rollout_orders",
    "rollout_reports",
    "service_secrets",
    "sign_in_failures",
    "sort_key",
    "tenants",
    "web_sessions",
]
