"""The seven co-management workloads and the two sides that may hold them.

A `Workload`'s value is its Graph feature name (`compliancePolicy`, ...), the
name the cloud device's `configurationManagerClientEnabledFeatures` uses; it is
stable and is what stores and the wire carry. Each workload also has its bit in
the site's CoManagementFlags integer and the name admins see in the console.
Iteration order is DOMAIN.md's table order, which is also ascending bit order.
"""

from __future__ import annotations

from enum import StrEnum

# Bit 1 of the flags integer: co-management is configured on the device.
CO_MANAGEMENT_CONFIGURED = 1


class Holder(StrEnum):
    """A side that can hold a workload for a device: the site or the cloud tenant."""

    CONFIGMGR = "configmgr"
    CLOUD = "cloud"

    @property
    def other(self) -> Holder:
        """The opposite side."""
        return Holder.CLOUD if self is Holder.CONFIGMGR else Holder.CONFIGMGR


class Workload(StrEnum):
    """One co-management workload; the value is its Graph feature name."""

    COMPLIANCE = "compliancePolicy"
    RESOURCE_ACCESS = "resourceAccess"
    DEVICE_CONFIGURATION = "deviceConfiguration"
    WINDOWS_UPDATE = "windowsUpdateForBusiness"
    ENDPOINT_PROTECTION = "endpointProtection"
    CLIENT_APPS = "modernApps"
    OFFICE_APPS = "officeApps"

    @property
    def flag(self) -> int:
        """The workload's bit in the CoManagementFlags integer."""
        return _FLAG[self]

    @property
    def feature_name(self) -> str:
        """The Graph feature name (the enum value)."""
        return self.value

    @property
    def display_name(self) -> str:
        """The name admins know from the console's co-management sliders."""
        return _DISPLAY_NAME[self]


_FLAG: dict[Workload, int] = {
    Workload.COMPLIANCE: 2,
    Workload.RESOURCE_ACCESS: 4,
    Workload.DEVICE_CONFIGURATION: 8,
    Workload.WINDOWS_UPDATE: 16,
    Workload.ENDPOINT_PROTECTION: 32,
    Workload.CLIENT_APPS: 64,
    Workload.OFFICE_APPS: 128,
}

_DISPLAY_NAME: dict[Workload, str] = {
    Workload.COMPLIANCE: "Compliance policies",
    Workload.RESOURCE_ACCESS: "Resource access policies",
    Workload.DEVICE_CONFIGURATION: "Device configuration",
    Workload.WINDOWS_UPDATE: "Windows Update policies",
    Workload.ENDPOINT_PROTECTION: "Endpoint Protection",
    Workload.CLIENT_APPS: "Client apps",
    Workload.OFFICE_APPS: "Office Click-to-Run apps",
}

ALL_WORKLOADS: tuple[Workload, ...] = tuple(Workload)

# Every bit cobridge gives a meaning to; anything else in a flags integer is
# unknown (agents in the field report 0x1000 and 0x2000) and is ignored.
KNOWN_BITS = CO_MANAGEMENT_CONFIGURED | sum(_FLAG.values())
