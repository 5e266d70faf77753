"""Desired holders from one read of the site: the domain rule, applied per device.

Only co-managed devices can hold anything on the cloud, so only their
non-site workloads are kept: memory follows the co-managed share of the
fleet, and the arbiter heads every journaled record missing here back to the
site (after a complete read only). The rule itself is `workloads.authority`;
this module only turns site records into its `DeviceFacts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from onprem.site_records import RejectedRecord, SiteDevice
from workloads.authority import DeviceFacts, desired_holders, is_co_managed
from workloads.catalog import Holder
from workloads.messages import Key
from workloads.rollout import RolloutOverlay
from workloads.settings import CoManagementSettings


def device_facts(device: SiteDevice) -> DeviceFacts:
    """What the authority rules need to know of one site record.

    Built without re-validation (once per device per pass): every value is
    already typed by the reader's validation; collection ids are upper-cased
    here as `DeviceFacts` would.
    """
    return DeviceFacts.model_construct(
        agent_present=device.client == 1,
        mdm_enrolled=device.cm_mdm_enrolled == 1,
        comgmt_policy_present=device.cm_policy_present == 1,
        entra_joined=bool(device.cm_aad_joined or device.cm_hybrid_aad_joined),
        os_name=device.os_name,
        os_build=device.os_build,
        collection_ids=frozenset(c.strip().upper() for c in device.collections),
    )


@dataclass
class DesiredHolders:
    """The cloud-desired (smsid, workload) keys of one read, and what the read saw."""

    desired: dict[Key, Holder] = field(default_factory=dict)
    devices: int = 0
    co_managed: int = 0
    refused: int = 0
    # Device-reported workload flags, for drift detection: smsid -> MDMWorkloads.
    reported_flags: dict[str, int] = field(default_factory=dict)


def desired_from_read(
    settings: CoManagementSettings,
    records: Iterable[SiteDevice | RejectedRecord],
    overlay: RolloutOverlay | None = None,
) -> DesiredHolders:
    """Apply the desired-holder rule to every valid, live record of a read.

    With a rollout's `overlay`, a device it admits is held as the target
    settings say and every other as the overlay's prior settings say.
    """
    result = DesiredHolders()
    for record in records:
        if isinstance(record, RejectedRecord):
            result.refused += 1
            continue
        if record.obsolete == 1 or record.decommissioned == 1:
            continue
        result.devices += 1
        # The co-managed predicate on the three facts it reads first, so the full
        # facts (collections) are built only for co-managed devices.
        co_managed = is_co_managed(
            DeviceFacts.model_construct(
                agent_present=record.client == 1,
                mdm_enrolled=record.cm_mdm_enrolled == 1,
                comgmt_policy_present=record.cm_policy_present == 1,
            )
        )
        flags = record.cm_workloads
        # Kept only where drift is possible: a co-managed device, or one that
        # reports a workload on the cloud (bits above "co-management configured").
        if flags is not None and (co_managed or flags & ~1):
            result.reported_flags[record.smsid] = flags
        if not co_managed:
            continue
        result.co_managed += 1
        facts = device_facts(record)
        if overlay is None:
            holders = desired_holders(settings, facts)
        else:
            holders = overlay.holders(record.smsid, facts)
        for workload, holder in holders.items():
            if holder is Holder.CLOUD:
                result.desired[(record.smsid, workload)] = holder
    return result
