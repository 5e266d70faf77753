"""Device queries: the device view, the list query, pages and detail.

Field names follow Microsoft Graph's managedDevice where one exists
(deviceName, azureADDeviceId, managementAgent, ...), so cloud admins and
their scripts recognise them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from cloud.contract.authority_views import ClientEnabledFeatures
from cloud.contract.directory import DirectoryComputerOut
from cloud.contract.naming import CamelModel, CamelResponse


class ManagedBy(StrEnum):
    """How the tenant shows a device's management (the anchor's "Managed by")."""

    CONFIGMGR = "ConfigMgr"
    CO_MANAGED = "Co-managed"
    INTUNE = "Intune"

    @property
    def management_agent(self) -> str:
        """Graph's managementAgent value for this state."""
        return {
            "ConfigMgr": "configurationManagerClient",
            "Co-managed": "configurationManagerClientMdm",
            "Intune": "mdm",
        }[self.value]


class DeviceOut(CamelResponse):
    """A device of the tenant: attached from a site, enrolled in MDM, or both."""

    id: str
    device_name: str
    managed_by: ManagedBy
    management_agent: str
    hierarchy_id: str | None
    site_code: str | None
    smsid: str | None
    resource_id: int | None
    azure_ad_device_id: str | None = Field(alias="azureADDeviceId")
    serial_number: str | None
    manufacturer: str | None
    model: str | None
    operating_system: str | None
    os_version: str | None
    os_build: int | None
    os_caption: str | None
    domain: str | None
    fqdn: str | None
    user_name: str | None
    client_installed: bool
    client_version: str | None
    client_active: bool | None
    client_health: Literal["pass", "fail", "unknown"] | None
    co_management_flags: int | None
    enrolled_in_mdm: bool
    last_active_date_time: datetime | None
    last_policy_request_date_time: datetime | None
    last_hardware_inventory_date_time: datetime | None
    created_date_time: datetime
    last_sync_date_time: datetime


DEVICE_FIELDS: tuple[str, ...] = tuple(
    DeviceOut.model_fields[f].alias or f for f in DeviceOut.model_fields
)
SORTABLE = (
    "deviceName",
    "lastActiveDateTime",
    "osBuild",
    "operatingSystem",
    "managedBy",
    "siteCode",
    "clientHealth",
    "coManagementFlags",
    "lastSyncDateTime",
)


class DeviceQuery(CamelModel):
    """Filters, sort, selection and paging for the device list (all optional)."""

    name_starts_with: str | None = Field(default=None, max_length=255)
    name_contains: str | None = Field(default=None, max_length=255)
    operating_system: str | None = Field(default=None, max_length=64)
    os_build: int | None = Field(default=None, ge=0)
    managed_by: ManagedBy | None = None
    hierarchy_id: str | None = Field(default=None, max_length=64)
    site_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{3}$")
    collection_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{8}$")
    last_active_before: datetime | None = None
    last_active_after: datetime | None = None
    client_health: Literal["pass", "fail", "unknown"] | None = None
    client_active: bool | None = None
    select: list[str] | None = Field(default=None, alias="$select")
    orderby: str = Field(default="deviceName", alias="$orderby", max_length=64)
    top: int = Field(default=100, ge=1, le=1000, alias="$top")
    skiptoken: str | None = Field(default=None, alias="$skiptoken", max_length=2048)
    count: bool = Field(default=False, alias="$count")


class DevicePage(CamelResponse):
    """One page of devices, with the link to the next one (Graph's shape)."""

    value: list[dict[str, object]]
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    count: int | None = Field(default=None, alias="@odata.count")


class CollectionRef(CamelResponse):
    """A collection a device belongs to."""

    collection_id: str
    name: str | None


class DeviceEvent(CamelResponse):
    """One entry of a device's sync history."""

    at: datetime
    kind: Literal["created", "updated", "deleted", "linked", "enrolled"]
    sequence: int | None
    batch_id: str | None


class DeviceDetail(CamelResponse):
    """A device with its collections and sync history.

    `configurationManagerClientEnabledFeatures` says, per workload, whether
    the cloud holds it (as Graph's managedDevice does); None for a device not
    attached to a hierarchy, which has no co-management authority.
    `activeDirectory` is the AD computer the connector linked to the device's
    site record (None without directory discovery or without a match).
    """

    device: DeviceOut
    collections: list[CollectionRef]
    history: list[DeviceEvent]
    configuration_manager_client_enabled_features: ClientEnabledFeatures | None = None
    # The AD computer object linked to the device's site record, when discovery found one.
    active_directory: DirectoryComputerOut | None = None
