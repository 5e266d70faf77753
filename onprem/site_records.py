"""What the site reader yields: device records, their identity keys, and rejects.

A `SiteDevice` is flat, one field per site column, validated natively by
pydantic-core (see `site_values`). Fields carry the site's column names as
aliases, so a reject names the column an admin can look at (`Name0`, not
`name`). Client health and co-management state are views over those fields.
The bridge maps records to the wire contract; this module knows nothing of
the cloud.
"""

from __future__ import annotations

import typing
from datetime import datetime
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

EVALUATION: dict[int, Literal["pass", "fail", "unknown"]] = {1: "pass", 2: "fail", 3: "unknown"}


class ClientHealth(BaseModel):
    """Client health from `v_CH_ClientSummary`."""

    model_config = ConfigDict(frozen=True)

    active: bool | int | None
    last_active: datetime | None
    last_policy_request: datetime | None
    last_ddr: datetime | None
    last_hardware_inventory: datetime | None
    last_management_point: str | None
    last_evaluation: int | None

    @property
    def evaluation(self) -> Literal["pass", "fail", "unknown"] | None:
        """The last client health evaluation as a word, as the console shows it."""
        return EVALUATION.get(self.last_evaluation) if self.last_evaluation else None


class CoManagementState(BaseModel):
    """Co-management state from `v_ClientCoManagementState`."""

    model_config = ConfigDict(frozen=True)

    machine_id: int | None
    mdm_enrolled: bool | int | None
    policy_present: bool | int | None
    mdm_provisioned: bool | int | None
    hybrid_aad_joined: bool | int | None
    aad_joined: bool | int | None
    # Not range-checked: agents report unknown high bits (DOMAIN.md).
    workload_flags: int | None
    enrollment_status_code: int | None
    enrollment_error: str | None

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
    """One device of the site, as read from `v_R_System` and the views joined to it.

    Flags are 0/1 (or bools where the site stores bits); test them by truth.
    """

    # Validated by alias only: accepting field names too doubles the lookups.
    model_config = ConfigDict(frozen=True, extra="ignore")

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
    # v_GS_OPERATING_SYSTEM
    os_caption: FreeText = Field(default=None, alias="Caption0")
    os_version: FreeText = Field(default=None, alias="Version0")
    os_install_date: SiteDate = Field(default=None, alias="InstallDate0")
    last_boot: SiteDate = Field(default=None, alias="LastBootUpTime0")
    # v_GS_COMPUTER_SYSTEM and v_GS_PC_BIOS
    manufacturer: FreeText = Field(default=None, alias="Manufacturer0")
    model: FreeText = Field(default=None, alias="Model0")
    computer_domain: FreeText = Field(default=None, alias="Domain0")
    logged_on_user: FreeText = Field(default=None, alias="UserName0")
    serial_number: FreeText = Field(default=None, alias="SerialNumber0")
    # v_CH_ClientSummary: health_row is its ResourceID, None without a row.
    health_row: int | None = Field(default=None, alias="_has_health")
    ch_active: SiteFlag = Field(default=None, alias="ClientActiveStatus")
    ch_last_active: SiteDate = Field(default=None, alias="LastActiveTime")
    ch_last_policy_request: SiteDate = Field(default=None, alias="LastPolicyRequest")
    ch_last_ddr: SiteDate = Field(default=None, alias="LastDDR")
    ch_last_hw: SiteDate = Field(default=None, alias="LastHW")
    ch_last_mp: FreeText = Field(default=None, alias="LastMPServerName")
    ch_evaluation: SiteInt = Field(default=None, alias="LastEvaluationHealthy")
    # v_ClientCoManagementState: comanagement_row likewise.
    comanagement_row: int | None = Field(default=None, alias="_has_comanagement")
    cm_machine_id: SiteInt = Field(default=None, alias="MachineId")
    cm_mdm_enrolled: SiteFlag = Field(default=None, alias="MDMEnrolled")
    cm_policy_present: SiteFlag = Field(default=None, alias="ComgmtPolicyPresent")
    cm_mdm_provisioned: SiteFlag = Field(default=None, alias="MDMProvisioned")
    cm_hybrid_aad_joined: SiteFlag = Field(default=None, alias="HybridAADJoined")
    cm_aad_joined: SiteFlag = Field(default=None, alias="AADJoined")
    cm_workloads: SiteInt = Field(default=None, alias="MDMWorkloads")
    cm_status_code: SiteInt = Field(default=None, alias="EnrollmentStatusCode")
    cm_error: FreeText = Field(default=None, alias="EnrollmentErrorDetail")
    collections: tuple[str, ...] = ()
    content_hash: str

    @cached_property
    def health(self) -> ClientHealth | None:
        """Client health, or None when the site has no summary for this device."""
        if self.health_row is None:
            return None
        return ClientHealth(
            active=self.ch_active,
            last_active=self.ch_last_active,
            last_policy_request=self.ch_last_policy_request,
            last_ddr=self.ch_last_ddr,
            last_hardware_inventory=self.ch_last_hw,
            last_management_point=self.ch_last_mp,
            last_evaluation=self.ch_evaluation,
        )

    @cached_property
    def comanagement(self) -> CoManagementState | None:
        """Co-management state, or None when the agent has reported none."""
        if self.comanagement_row is None:
            return None
        return CoManagementState(
            machine_id=self.cm_machine_id,
            mdm_enrolled=self.cm_mdm_enrolled,
            policy_present=self.cm_policy_present,
            mdm_provisioned=self.cm_mdm_provisioned,
            hybrid_aad_joined=self.cm_hybrid_aad_joined,
            aad_joined=self.cm_aad_joined,
            workload_flags=self.cm_workloads,
            enrollment_status_code=self.cm_status_code,
            enrollment_error=self.cm_error,
        )

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


def _rule_kinds() -> dict[str, str]:
    """The validity rule (a `site_values.RULES` key) of every aliased column."""
    kinds = [
        (HostName, "host_name"),
        (OptionalHostName, "optional_host_name"),
        (FreeText, "free_text"),
        (SmsId, "smsid"),
        (OptionalGuid, "optional_guid"),
        (SiteFlag, "flag"),
        (SiteInt, "int"),
        (SiteDate, "date"),
    ]
    hints = typing.get_type_hints(SiteDevice, include_extras=True)
    found: dict[str, str] = {}
    for name, info in SiteDevice.model_fields.items():
        for annotation, kind in kinds:
            if hints[name] == annotation and info.alias:
                found[info.alias] = kind
    return found


# Column alias -> rule kind, for classifying rejects precisely.
COLUMN_RULES: dict[str, str] = _rule_kinds()


class RejectedRecord(BaseModel):
    """A row that failed validation: kept with its reason, never silently dropped."""

    model_config = ConfigDict(frozen=True)

    resource_id: int | None
    smsid: str | None
    name: str | None
    reason: str
    column: str
    detail: str
