"""Tenant attach: enrollment of a connector, hierarchy registration, heartbeat.

The heartbeat also carries the delete guard's side of DESIGN.md section 6:
the connector reports the deletes it holds, and the answer delivers the
release orders admins gave through the tenant API (see `HeldDeleteGroup`,
`DeleteReleaseOrder`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import ConfigDict, Field

from cloud.contract.naming import CamelModel, CamelResponse
from cloud.contract.quarantine import QuarantineReport

# Identifier patterns shared by the contract modules; they live here because
# `inventory` imports this module, so this one cannot import `inventory`.
HIERARCHY_ID = r"^[0-9A-Za-z][0-9A-Za-z._:{}-]{0,63}$"
SITE_CODE = r"^[A-Za-z0-9]{3}$"
SMSID = r"^GUID:[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"

# Bounds of the delete guard's part of a heartbeat (a report is a summary, not a list).
MAX_HELD_GROUPS = 1000
MAX_HELD_SAMPLE = 50
MAX_APPLIED_RELEASES = 100


class EnrollRequest(CamelModel):
    """A connector's first call: a one-time attach code and a CSR for its own key."""

    attach_code: str = Field(min_length=8, max_length=64)
    csr_pem: str = Field(min_length=64, max_length=16_384)
    hierarchy_id: str = Field(pattern=HIERARCHY_ID)
    site_code: str = Field(pattern=SITE_CODE)
    connector_version: str = Field(default="unknown", max_length=64)


class EnrollResponse(CamelResponse):
    """The client certificate bound to tenant and hierarchy, with its CA chain."""

    tenant_id: str
    hierarchy_id: str
    connector_id: str
    certificate_pem: str
    ca_chain_pem: str
    not_after: datetime


class RenewRequest(CamelModel):
    """Renewal with the current certificate: a CSR for a (preferably new) key."""

    csr_pem: str = Field(min_length=64, max_length=16_384)


class HierarchyRegistration(CamelModel):
    """What a connector says about the hierarchy it attaches."""

    hierarchy_id: str = Field(pattern=HIERARCHY_ID)
    site_code: str = Field(pattern=SITE_CODE)
    site_name: str | None = Field(default=None, max_length=256)
    site_version: str | None = Field(default=None, max_length=64)
    connector_version: str = Field(default="unknown", max_length=64)


class ConnectorStatus(CamelModel):
    """Health the connector reports with each heartbeat (shown to cloud admins)."""

    model_config = ConfigDict(extra="allow")

    last_cycle_at: datetime | None = None
    last_cycle_seconds: float | None = None
    site_devices: int | None = None
    backlog: int | None = None
    lag_seconds: float | None = None
    quarantined: int | None = None
    held_deletes: int | None = None
    certificate_not_after: datetime | None = None


class HeldDeviceRef(CamelModel):
    """One device whose delete the guard holds."""

    smsid: str = Field(pattern=SMSID)
    name: str | None = Field(default=None, max_length=255)


class HeldDeleteGroup(CamelModel):
    """The deletes one sync cycle held: how many, since when, and a sample of them."""

    cycle_id: str = Field(min_length=1, max_length=64)
    count: int = Field(ge=0)
    held_at: datetime
    sample: list[HeldDeviceRef] = Field(default_factory=list, max_length=MAX_HELD_SAMPLE)


class DeleteReleaseOrder(CamelResponse):
    """An admin's release of held deletes, delivered to the connector until it applies it.

    `cycle_id` None releases every held delete; the connector names the order
    in `Heartbeat.applied_releases` once it has let the deletes through.
    """

    release_id: UUID
    cycle_id: str | None
    requested_by: str
    requested_at: datetime


class Heartbeat(CamelModel):
    """A periodic sign of life, with status and the delete guard's state.

    `held_deletes`: None keeps the report of an earlier heartbeat; a list,
    even an empty one, replaces it. `applied_releases`: release orders the
    connector has applied; repeating an id is harmless, unknown ids are ignored.
    `quarantine`: None keeps the report the tenant holds; a report replaces it.
    """

    connector_version: str = Field(default="unknown", max_length=64)
    status: ConnectorStatus = Field(default_factory=ConnectorStatus)
    held_deletes: list[HeldDeleteGroup] | None = Field(default=None, max_length=MAX_HELD_GROUPS)
    applied_releases: list[UUID] = Field(default_factory=list, max_length=MAX_APPLIED_RELEASES)
    quarantine: QuarantineReport | None = None


class HeartbeatAck(CamelResponse):
    """The service's answer: its clock (for skew checks), what it has applied, release orders.

    `delete_releases` lists every release order of the hierarchy not yet
    applied, oldest first, on every heartbeat until the connector reports it.
    `quarantine_digest`: the digest of the quarantine report the tenant holds
    (None: none yet), so the connector sends one only when its own differs.
    """

    server_time: datetime
    last_applied_sequence: int | None
    detached: bool = False
    delete_releases: list[DeleteReleaseOrder] = []
    quarantine_digest: str | None = None


class HierarchyOut(CamelResponse):
    """A hierarchy attached to the tenant, as admins see it."""

    hierarchy_id: str
    site_code: str
    site_name: str | None
    site_version: str | None
    connector_id: str | None
    connector_version: str | None
    registered_at: datetime
    last_heartbeat_at: datetime | None
    last_applied_sequence: int | None
    status: dict[str, object] | None
    detached_at: datetime | None
    purge_after: datetime | None
    device_count: int = 0


class ConnectorOut(CamelResponse):
    """An enrolled connector and its current certificate."""

    connector_id: str
    hierarchy_id: str
    certificate_serial: str
    certificate_not_after: datetime
    enrolled_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None


class HeldDeletesOut(CamelResponse):
    """The connector's latest report of held deletes; `reported_at` None if it never reported."""

    value: list[HeldDeleteGroup]
    reported_at: datetime | None


class DeleteReleaseRequest(CamelModel):
    """An admin's release: of one cycle's held deletes, or (no `cycle_id`) of all of them."""

    cycle_id: str | None = Field(default=None, min_length=1, max_length=64)


class DeleteReleaseOut(CamelResponse):
    """A release order as admins see it; `applied_at` is set when the connector applied it."""

    release_id: UUID
    hierarchy_id: str
    cycle_id: str | None
    requested_by: str
    requested_at: datetime
    applied_at: datetime | None
