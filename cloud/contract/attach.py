"""Tenant attach: enrollment of a connector, hierarchy registration, heartbeat."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from cloud.contract.naming import CamelModel, CamelResponse

HIERARCHY_ID = r"^[0-9A-Za-z][0-9A-Za-z._:{}-]{0,63}$"
SITE_CODE = r"^[A-Za-z0-9]{3}$"


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


class Heartbeat(CamelModel):
    """A periodic sign of life, with status."""

    connector_version: str = Field(default="unknown", max_length=64)
    status: ConnectorStatus = Field(default_factory=ConnectorStatus)


class HeartbeatAck(CamelResponse):
    """The service's answer: its clock (for skew checks) and what it has applied."""

    server_time: datetime
    last_applied_sequence: int | None
    detached: bool = False


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
