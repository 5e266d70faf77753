"""Who should hold each workload for a device: the co-managed predicate and the desired holder.

The rules (DOMAIN.md "Co-management", DESIGN.md section 7), each stated once:

- a device is co-managed when it has the site agent, is MDM-enrolled in the
  tenant and has the site's co-management policy;
- until it is co-managed, or while co-management is off on the site, every
  workload is the site's, whatever the sliders say;
- otherwise a workload is the cloud's when its slider is Cloud, or Pilot with
  the device in that workload's pilot collection;
- then the dependency rule, as the catalog states it (`Workload.carrier`,
  `Workload.carriage`): Device configuration carries Resource access and
  Endpoint Protection. Resource access (retired in current releases) always
  follows Device configuration, whatever its own slider says; Endpoint
  Protection goes to the cloud with Device configuration and otherwise follows
  its own slider (it may be on the cloud while Device configuration is not).

The dependency rule is applied here only, never to the stored sliders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from workloads import flags
from workloads.catalog import ALL_WORKLOADS, Carriage, Holder, Workload
from workloads.devices import os_supports_co_management
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting


def _upper(ids: frozenset[str]) -> frozenset[str]:
    return frozenset(collection.strip().upper() for collection in ids)


class DeviceFacts(BaseModel):
    """What the site knows about one device that the authority rules depend on.

    `collection_ids` are the collections the device is a member of (as read
    from the site's membership view; upper-cased, not validated, since the
    site's data is dirty and a membership never grants anything by itself).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_present: bool = False
    mdm_enrolled: bool = False
    comgmt_policy_present: bool = False
    entra_joined: bool = False  # Entra-joined or hybrid-joined
    os_name: str | None = None
    os_build: str | None = None
    collection_ids: Annotated[frozenset[str], AfterValidator(_upper)] = frozenset()


def is_co_managed(facts: DeviceFacts) -> bool:
    """Whether the device is co-managed: site agent, MDM-enrolled and the co-management policy."""
    return facts.agent_present and facts.mdm_enrolled and facts.comgmt_policy_present


def is_eligible(facts: DeviceFacts) -> bool:
    """Whether the device may become co-managed: agent, supported Windows, Entra or hybrid join."""
    return (
        facts.agent_present
        and facts.entra_joined
        and os_supports_co_management(facts.os_name, facts.os_build)
    )


def in_auto_enrollment_scope(settings: CoManagementSettings, facts: DeviceFacts) -> bool:
    """Whether the site would enroll this device into the tenant automatically."""
    return (
        settings.enabled
        and is_eligible(facts)
        and settings.auto_enrollment.covers(facts.collection_ids)
    )


def _slider_holder(setting: WorkloadSetting, facts: DeviceFacts) -> Holder:
    if setting.slider is Slider.CLOUD:
        return Holder.CLOUD
    if setting.slider is Slider.PILOT and setting.pilot_collection in facts.collection_ids:
        return Holder.CLOUD
    return Holder.CONFIGMGR


# The catalog's dependency rule as (dependant, carrier, carriage), carriers first:
# read once, since desired holders are computed for every device of a site.
_CARRIED: tuple[tuple[Workload, Workload, Carriage], ...] = tuple(
    (w, w.carrier, w.carriage)
    for w in Workload.in_dependency_order()
    if w.carrier is not None and w.carriage is not None
)


def desired_holders(settings: CoManagementSettings, facts: DeviceFacts) -> dict[Workload, Holder]:
    """The side that should hold each of the seven workloads for this device (catalog order)."""
    if not (settings.enabled and is_co_managed(facts)):
        return dict.fromkeys(ALL_WORKLOADS, Holder.CONFIGMGR)
    holders = {w: _slider_holder(settings.setting(w), facts) for w in ALL_WORKLOADS}
    # The dependency rule: each carrier carries its dependants, carriers first.
    for dependant, carrier, carriage in _CARRIED:
        if carriage is Carriage.ALWAYS:
            holders[dependant] = holders[carrier]
        elif holders[carrier] is Holder.CLOUD:
            holders[dependant] = Holder.CLOUD
    return holders


def desired_holder(
    settings: CoManagementSettings, facts: DeviceFacts, workload: Workload
) -> Holder:
    """The side that should hold `workload` for this device."""
    return desired_holders(settings, facts)[Workload(workload)]


def flags_for(holders: Mapping[Workload, Holder]) -> int:
    """The CoManagementFlags integer published for a co-managed device with these holders."""
    return flags.encode(w for w, holder in holders.items() if holder is Holder.CLOUD)
