"""What the site reader yields: device records, their identity keys, and rejects.

Fields carry the site's column names as aliases, so a reject names the column
an admin can look at (`Name0`, not `name`). The bridge maps these records to
the wire contract; this module knows nothing of the cloud.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from onprem.site_values import (
    FreeText,
    HostName,
    OptionalGuid,
    OptionalHostName,
    SiteDate,
    SiteFlag,
    SiteInt,
    SmsId,
    fqdn_from,
    identifying_serial,
)

_RECORD = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

EVALUATION = {1: "pass", 2: "fail", 3: "unknown"}


class ClientHealth(BaseModel):
    """Client health from `v_CH_ClientSummary`."""

    model_config = _RECORD

    active: SiteFlag = Field(default=None, alias="ClientActiveStatus")
    last_active: SiteDate = Field(default=None, alias="LastActiveTime")
    last_policy_request: SiteDate = Field(default=None, alias="LastPolicyRequest")
    last_ddr: SiteDate = Field(default=None, alias="LastDDR")
    last_hardware_inventory: SiteDate = Field(default=None, alias="LastHW")
    last_management_point: FreeText = Field(default=None, alias="LastMPServerName")
    last_evaluation: SiteInt = Field(default=None, alias="LastEvaluationHealthy")

    @property
    def evaluation(self) -> Literal["pass", "fail", "unknown"] | None:
        """The last client health evaluation as a word, as the console shows it."""
        return EVALUATION.get(self.last_evaluation) if self.last_evaluation else None  # type: ignore[return-value]


class CoManagementState(BaseModel):
    """Co-management state from `v_ClientCoManagementState`."""

    model_config = _RECORD

    machine_id: SiteInt = Field(default=None, alias="MachineId")
    mdm_enrolled: SiteFlag = Field(default=None, alias="MDMEnrolled")
    policy_present: SiteFlag = Field(default=None, alias="ComgmtPolicyPresent")
    mdm_provisioned: SiteFlag = Field(default=None, alias="MDMProvisioned")
    hybrid_aad_joined: SiteFlag = Field(default=None, alias="HybridAADJoined")
    aad_joined: SiteFlag = Field(default=None, alias="AADJoined")
    # Not range-checked: agents report unknown high bits (DOMAIN.md).
    workload_flags: SiteInt = Field(default=None, alias="MDMWorkloads")
    enrollment_status_code: SiteInt = Field(default=None, alias="EnrollmentStatusCode")
    enrollment_error: FreeText = Field(default=None, alias="EnrollmentErrorDetail")

    @property
    def co_managed(self) -> bool:
        """Enrolled in the tenant and holding the site's co-management policy (DOMAIN.md)."""
        return bool(self.mdm_enrolled and self.policy_present)


class DeviceKeys(BaseModel):
    """The identity keys of a device (DESIGN.md section 5); names are never among them."""

    model_config = ConfigDict(frozen=True)

    smsid: str
    resource_id: int
    aad_device_id: str | None
    serial_number: str | None
    fqdn: str | None


class SiteDevice(BaseModel):
    """One device of the site, as read from `v_R_System` and the views joined to it."""

    model_config = _RECORD

    resource_id: int = Field(alias="ResourceID", strict=True)
    resource_type: SiteInt = Field(default=None, alias="ResourceType")
    name: HostName = Field(alias="Name0")
    netbios_name: OptionalHostName = Field(default=None, alias="Netbios_Name0")
    smsid: SmsId = Field(alias="SMS_Unique_Identifier0")
    domain: OptionalHostName = Field(default=None, alias="Resource_Domain_OR_Workgr0")
    os_name: FreeText = Field(default=None, alias="Operating_System_Name_and0")
    os_build: FreeText = Field(default=None, alias="Build01")
    client: SiteFlag = Field(default=None, alias="Client0")
    client_version: FreeText = Field(default=None, alias="Client_Version0")
    active: SiteFlag = Field(default=None, alias="Active0")
    obsolete: SiteFlag = Field(default=None, alias="Obsolete0")
    decommissioned: SiteFlag = Field(default=None, alias="Decommissioned0")
    user_name: FreeText = Field(default=None, alias="User_Name0")
    distinguished_name: FreeText = Field(default=None, alias="Distinguished_Name0")
    ad_site: FreeText = Field(default=None, alias="AD_Site_Name0")
    is_virtual: SiteFlag = Field(default=None, alias="Is_Virtual_Machine0")
    last_logon: SiteDate = Field(default=None, alias="Last_Logon_Timestamp0")
    created: SiteDate = Field(default=None, alias="Creation_Date0")
    aad_device_id: OptionalGuid = Field(default=None, alias="AADDeviceID")
    aad_tenant_id: OptionalGuid = Field(default=None, alias="AADTenantID")
    os_caption: FreeText = Field(default=None, alias="Caption0")
    os_version: FreeText = Field(default=None, alias="Version0")
    os_install_date: SiteDate = Field(default=None, alias="InstallDate0")
    last_boot: SiteDate = Field(default=None, alias="LastBootUpTime0")
    manufacturer: FreeText = Field(default=None, alias="Manufacturer0")
    model: FreeText = Field(default=None, alias="Model0")
    computer_domain: FreeText = Field(default=None, alias="Domain0")
    logged_on_user: FreeText = Field(default=None, alias="UserName0")
    serial_number: FreeText = Field(default=None, alias="SerialNumber0")
    health: ClientHealth | None = None
    comanagement: CoManagementState | None = None
    collections: tuple[str, ...] = ()
    content_hash: str

    @cached_property
    def keys(self) -> DeviceKeys:
        """Identity keys, normalised: placeholder serials dropped, FQDN from the DN."""
        return DeviceKeys(
            smsid=self.smsid,
            resource_id=self.resource_id,
            aad_device_id=self.aad_device_id,
            serial_number=identifying_serial(self.serial_number),
            fqdn=fqdn_from(self.netbios_name or self.name, self.distinguished_name),
        )

    @property
    def live(self) -> bool:
        """Neither obsolete nor decommissioned (what `v_R_System_Valid` holds)."""
        return not self.obsolete and not self.decommissioned

    @property
    def has_hardware_inventory(self) -> bool:
        """Whether the agent has reported hardware inventory for this device."""
        return self.model is not None or self.serial_number is not None


class RejectedRecord(BaseModel):
    """A row that failed validation: kept with its reason, never silently dropped."""

    model_config = ConfigDict(frozen=True)

    resource_id: int | None
    smsid: str | None
    name: str | None
    reason: str
    column: str
    detail: str
