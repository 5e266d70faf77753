"""The site database views the reader relies on, as SQLAlchemy Core tables.

A real site database is SQL Server and these names are views there; the
embedded copies (SQLite, PostgreSQL) hold them as tables of the same names and
columns, so one reader serves all three. Names follow DOMAIN.md exactly, so an
admin can run the same queries in SQL Server Management Studio.

`cobridge_site_identity` is not a site view: it exists only in embedded copies
and gives them the instance identity and hierarchy id a real site gets from
SQL Server's catalog and from configuration. Likewise the other `cobridge_`
tables hold what the embedded site's co-management side keeps (its settings,
its gate, what it publishes and delivers; `onprem.authority`): a real site
keeps these itself and is never migrated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa

site_metadata = sa.MetaData()

# Long free-text columns have no length here: a real site stores nvarchar(n),
# but the embedded copies must be able to hold the overlong values that real
# sites occasionally carry, so the reader (not the schema) rejects them.
Text = sa.Unicode

v_R_System = sa.Table(
    "v_R_System",
    site_metadata,
    sa.Column("ResourceID", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ResourceType", sa.Integer, nullable=False),
    sa.Column("Name0", Text()),
    sa.Column("Netbios_Name0", Text()),
    sa.Column("SMS_Unique_Identifier0", Text()),
    sa.Column("Resource_Domain_OR_Workgr0", Text()),
    sa.Column("Operating_System_Name_and0", Text()),
    sa.Column("Build01", Text()),
    sa.Column("Client0", sa.Integer),
    sa.Column("Client_Version0", Text()),
    sa.Column("Active0", sa.Integer),
    sa.Column("Obsolete0", sa.Integer),
    sa.Column("Decommissioned0", sa.Integer),
    sa.Column("User_Name0", Text()),
    sa.Column("Distinguished_Name0", Text()),
    sa.Column("AD_Site_Name0", Text()),
    sa.Column("Is_Virtual_Machine0", sa.Integer),
    sa.Column("Last_Logon_Timestamp0", sa.DateTime),
    sa.Column("Creation_Date0", sa.DateTime),
    sa.Column("AADDeviceID", Text()),
    sa.Column("AADTenantID", Text()),
)

v_GS_OPERATING_SYSTEM = sa.Table(
    "v_GS_OPERATING_SYSTEM",
    site_metadata,
    sa.Column("ResourceID", sa.Integer, nullable=False, index=True),
    sa.Column("Caption0", Text()),
    sa.Column("Version0", Text()),
    sa.Column("InstallDate0", sa.DateTime),
    sa.Column("LastBootUpTime0", sa.DateTime),
)

v_GS_COMPUTER_SYSTEM = sa.Table(
    "v_GS_COMPUTER_SYSTEM",
    site_metadata,
    sa.Column("ResourceID", sa.Integer, nullable=False, index=True),
    sa.Column("Manufacturer0", Text()),
    sa.Column("Model0", Text()),
    sa.Column("Domain0", Text()),
    sa.Column("UserName0", Text()),
)

v_GS_PC_BIOS = sa.Table(
    "v_GS_PC_BIOS",
    site_metadata,
    sa.Column("ResourceID", sa.Integer, nullable=False, index=True),
    sa.Column("SerialNumber0", Text()),
)

v_CH_ClientSummary = sa.Table(
    "v_CH_ClientSummary",
    site_metadata,
    sa.Column("ResourceID", sa.Integer, nullable=False, index=True),
    sa.Column("ClientActiveStatus", sa.Integer),
    sa.Column("LastActiveTime", sa.DateTime),
    sa.Column("LastPolicyRequest", sa.DateTime),
    sa.Column("LastDDR", sa.DateTime),
    sa.Column("LastHW", sa.DateTime),
    sa.Column("LastMPServerName", Text()),
    sa.Column("LastEvaluationHealthy", sa.Integer),
)

v_Collection = sa.Table(
    "v_Collection",
    site_metadata,
    sa.Column("CollectionID", sa.Unicode(8), primary_key=True),
    sa.Column("Name", Text(), nullable=False),
    sa.Column("CollectionType", sa.Integer, nullable=False),
    sa.Column("LimitToCollectionID", sa.Unicode(8)),
    sa.Column("LastChangeTime", sa.DateTime),
)

v_FullCollectionMembership = sa.Table(
    "v_FullCollectionMembership",
    site_metadata,
    sa.Column("CollectionID", sa.Unicode(8), primary_key=True),
    sa.Column("ResourceID", sa.Integer, primary_key=True),
    sa.Column("Name", Text()),
    sa.Column("SiteCode", sa.Unicode(3)),
    sa.Column("IsClient", sa.Integer),
    # Range reads by ResourceID; the primary key leads with CollectionID.
    sa.Index("ix_v_FullCollectionMembership_ResourceID", "ResourceID", "CollectionID"),
)

v_ClientCoManagementState = sa.Table(
    "v_ClientCoManagementState",
    site_metadata,
    sa.Column("ResourceID", sa.Integer, nullable=False, index=True),
    sa.Column("MachineId", sa.Integer),
    sa.Column("MDMEnrolled", sa.Integer),
    sa.Column("ComgmtPolicyPresent", sa.Integer),
    sa.Column("MDMProvisioned", sa.Integer),
    sa.Column("HybridAADJoined", sa.Integer),
    sa.Column("AADJoined", sa.Integer),
    sa.Column("MDMWorkloads", sa.Integer),
    sa.Column("EnrollmentStatusCode", sa.Integer),
    sa.Column("EnrollmentErrorDetail", Text()),
)

# Site properties; a real view of the site database with these columns.
v_Site = sa.Table(
    "v_Site",
    site_metadata,
    sa.Column("SiteCode", sa.Unicode(3), primary_key=True),
    sa.Column("SiteName", Text()),
    sa.Column("Version", Text()),
    sa.Column("BuildNumber", sa.Integer),
    sa.Column("Type", sa.Integer),
    sa.Column("ReportingSiteCode", sa.Unicode(3)),
    sa.Column("ServerName", Text()),
)

cobridge_site_identity = sa.Table(
    "cobridge_site_identity",
    site_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("instance_id", sa.Unicode(36), nullable=False),
    sa.Column("hierarchy_id", sa.Unicode(36), nullable=False),
    sa.Column("generator_seed", sa.Integer),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# What the reader requires of a site: every view and column it selects.
# `cobridge_site_identity` is optional (embedded copies only).
REQUIRED_VIEWS: tuple[sa.Table, ...] = (
    v_R_System,
    v_GS_OPERATING_SYSTEM,
    v_GS_COMPUTER_SYSTEM,
    v_GS_PC_BIOS,
    v_CH_ClientSummary,
    v_Collection,
    v_FullCollectionMembership,
    v_ClientCoManagementState,
    v_Site,
)

# The embedded site's co-management side (onprem.authority.embedded). Absent
# rows mean defaults: no settings row is co-management off with every slider on
# the site; no gate row is the initial record (the site holds at epoch 0).
SMSID = sa.Unicode(64)
WORKLOAD = sa.Unicode(32)  # the Graph feature name, workloads.catalog.Workload's value
ACTOR = sa.Unicode(256)

cobridge_comanagement_settings = sa.Table(
    "cobridge_comanagement_settings",
    site_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("auto_enrollment_scope", sa.Unicode(16), nullable=False),
    sa.Column("auto_enrollment_collection", sa.Unicode(8)),
    sa.Column("changed_by", ACTOR, nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
)

cobridge_workload_settings = sa.Table(
    "cobridge_workload_settings",
    site_metadata,
    sa.Column("workload", WORKLOAD, primary_key=True),
    sa.Column("slider", sa.Unicode(16), nullable=False),
    sa.Column("pilot_collection", sa.Unicode(8)),
    sa.Column("changed_by", ACTOR, nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
)

# The site's gate: the last command applied per (device, workload).
cobridge_site_gate = sa.Table(
    "cobridge_site_gate",
    site_metadata,
    sa.Column("smsid", SMSID, primary_key=True),
    sa.Column("workload", WORKLOAD, primary_key=True),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("holds", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# The CoManagementFlags integer the site publishes per device, from its gate.
cobridge_published_flags = sa.Table(
    "cobridge_published_flags",
    site_metadata,
    sa.Column("smsid", SMSID, primary_key=True),
    sa.Column("flags", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Append-only: the commands the gate applied and the policy deliveries it
# made, in the order they happened (time, then id), for the invariant checker.
cobridge_site_authority_log = sa.Table(
    "cobridge_site_authority_log",
    site_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.Unicode(16), nullable=False),  # grant, revoke or delivery
    sa.Column("smsid", SMSID, nullable=False),
    sa.Column("workload", WORKLOAD, nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Index("ix_cobridge_site_authority_log_at", "at", "id"),
)


def table_digest(tables: Iterable[sa.Table]) -> str:
    """A fingerprint of what a migration builds from `tables`: names, columns, keys, indexes.

    A revision that creates its tables from this module records the digest of
    the tables it creates, and refuses to run when they no longer match it
    (see the site migration 0001): a later edit here must come with a new
    revision, never change what an old one built.
    """
    lines: list[str] = []
    for table in tables:
        lines.append(f"table {table.name}")
        lines.extend(
            f"  column {c.name} {c.type!r} primary_key={c.primary_key} "
            f"nullable={c.nullable} autoincrement={c.autoincrement}"
            for c in table.columns
        )
        lines.extend(
            f"  index {index.name} {[c.name for c in index.columns]} unique={index.unique}"
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
