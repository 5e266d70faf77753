"""The site views of DOMAIN.md as tables, the *_Valid views, and the embedded identity.

Revision ID: 0001_site_views
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_site_views"
down_revision = None
branch_labels = None
depends_on = None

T = sa.Unicode


def upgrade() -> None:
    op.create_table(
        "v_R_System",
        sa.Column("ResourceID", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ResourceType", sa.Integer, nullable=False),
        sa.Column("Name0", T()),
        sa.Column("Netbios_Name0", T()),
        sa.Column("SMS_Unique_Identifier0", T()),
        sa.Column("Resource_Domain_OR_Workgr0", T()),
        sa.Column("Operating_System_Name_and0", T()),
        sa.Column("Build01", T()),
        sa.Column("Client0", sa.Integer),
        sa.Column("Client_Version0", T()),
        sa.Column("Active0", sa.Integer),
        sa.Column("Obsolete0", sa.Integer),
        sa.Column("Decommissioned0", sa.Integer),
        sa.Column("User_Name0", T()),
        sa.Column("Distinguished_Name0", T()),
        sa.Column("AD_Site_Name0", T()),
        sa.Column("Is_Virtual_Machine0", sa.Integer),
        sa.Column("Last_Logon_Timestamp0", sa.DateTime),
        sa.Column("Creation_Date0", sa.DateTime),
        sa.Column("AADDeviceID", T()),
        sa.Column("AADTenantID", T()),
    )
    op.create_table(
        "v_GS_OPERATING_SYSTEM",
        sa.Column("ResourceID", sa.Integer, nullable=False),
        sa.Column("Caption0", T()),
        sa.Column("Version0", T()),
        sa.Column("InstallDate0", sa.DateTime),
        sa.Column("LastBootUpTime0", sa.DateTime),
    )
    op.create_table(
        "v_GS_COMPUTER_SYSTEM",
        sa.Column("ResourceID", sa.Integer, nullable=False),
        sa.Column("Manufacturer0", T()),
        sa.Column("Model0", T()),
        sa.Column("Domain0", T()),
        sa.Column("UserName0", T()),
    )
    op.create_table(
        "v_GS_PC_BIOS",
        sa.Column("ResourceID", sa.Integer, nullable=False),
        sa.Column("SerialNumber0", T()),
    )
    op.create_table(
        "v_CH_ClientSummary",
        sa.Column("ResourceID", sa.Integer, nullable=False),
        sa.Column("ClientActiveStatus", sa.Integer),
        sa.Column("LastActiveTime", sa.DateTime),
        sa.Column("LastPolicyRequest", sa.DateTime),
        sa.Column("LastDDR", sa.DateTime),
        sa.Column("LastHW", sa.DateTime),
        sa.Column("LastMPServerName", T()),
        sa.Column("LastEvaluationHealthy", sa.Integer),
    )
    op.create_table(
        "v_Collection",
        sa.Column("CollectionID", sa.Unicode(8), primary_key=True),
        sa.Column("Name", T(), nullable=False),
        sa.Column("CollectionType", sa.Integer, nullable=False),
        sa.Column("LimitToCollectionID", sa.Unicode(8)),
        sa.Column("LastChangeTime", sa.DateTime),
    )
    op.create_table(
        "v_FullCollectionMembership",
        sa.Column("CollectionID", sa.Unicode(8), primary_key=True),
        sa.Column("ResourceID", sa.Integer, primary_key=True),
        sa.Column("Name", T()),
        sa.Column("SiteCode", sa.Unicode(3)),
        sa.Column("IsClient", sa.Integer),
    )
    op.create_table(
        "v_ClientCoManagementState",
        sa.Column("ResourceID", sa.Integer, nullable=False),
        sa.Column("MachineId", sa.Integer),
        sa.Column("MDMEnrolled", sa.Integer),
        sa.Column("ComgmtPolicyPresent", sa.Integer),
        sa.Column("MDMProvisioned", sa.Integer),
        sa.Column("HybridAADJoined", sa.Integer),
        sa.Column("AADJoined", sa.Integer),
        sa.Column("MDMWorkloads", sa.Integer),
        sa.Column("EnrollmentStatusCode", sa.Integer),
        sa.Column("EnrollmentErrorDetail", T()),
    )
    op.create_table(
        "v_Site",
        sa.Column("SiteCode", sa.Unicode(3), primary_key=True),
        sa.Column("SiteName", T()),
        sa.Column("Version", T()),
        sa.Column("BuildNumber", sa.Integer),
        sa.Column("Type", sa.Integer),
        sa.Column("ReportingSiteCode", sa.Unicode(3)),
        sa.Column("ServerName", T()),
    )
    op.create_table(
        "cobridge_site_identity",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("instance_id", sa.Unicode(36), nullable=False),
        sa.Column("hierarchy_id", sa.Unicode(36), nullable=False),
        sa.Column("generator_seed", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    for view in (
        "v_GS_OPERATING_SYSTEM",
        "v_GS_COMPUTER_SYSTEM",
        "v_GS_PC_BIOS",
        "v_CH_ClientSummary",
        "v_ClientCoManagementState",
    ):
        op.create_index(f"ix_{view}_ResourceID", view, ["ResourceID"])
    op.create_index(
        "ix_v_FullCollectionMembership_ResourceID",
        "v_FullCollectionMembership",
        ["ResourceID", "CollectionID"],
    )
    _create_valid_views()


def _create_valid_views() -> None:
    q = op.get_bind().dialect.identifier_preparer.quote
    live = f"COALESCE({q('Obsolete0')}, 0) = 0 AND COALESCE({q('Decommissioned0')}, 0) = 0"
    op.execute(
        f"CREATE VIEW {q('v_R_System_Valid')} AS SELECT * FROM {q('v_R_System')} WHERE {live}"
    )
    op.execute(
        f"CREATE VIEW {q('v_FullCollectionMembership_Valid')} AS SELECT * "
        f"FROM {q('v_FullCollectionMembership')} WHERE {q('ResourceID')} IN "
        f"(SELECT {q('ResourceID')} FROM {q('v_R_System')} WHERE {live})"
    )


def downgrade() -> None:
    for name in ("v_FullCollectionMembership_Valid", "v_R_System_Valid"):
        op.execute(f"DROP VIEW IF EXISTS {op.get_bind().dialect.identifier_preparer.quote(name)}")
    for table in (
        "cobridge_site_identity",
        "v_Site",
        "v_ClientCoManagementState",
        "v_FullCollectionMembership",
        "v_Collection",
        "v_CH_ClientSummary",
        "v_GS_PC_BIOS",
        "v_GS_COMPUTER_SYSTEM",
        "v_GS_OPERATING_SYSTEM",
        "v_R_System",
    ):
        op.drop_table(table)
