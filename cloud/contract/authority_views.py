"""Authority as admins read it: per device, per workload, Graph's features, the authority log.

The features object's fields are the workload catalog's (`feature_booleans`):
a workload added there appears here, with its Graph feature name.

The records come from `cloud.contract.authority`: the cloud gate's (what the
connector's commands applied) and the arbiter's (what the connector reports).
The log is what the invariant checker (`workloads.invariant`) replays for the
cloud side: the gate's applied commands and its deliveries, in commit order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import Field, create_model
from pydantic.alias_generators import to_camel, to_snake

from cloud.contract.authority import MAX_EPOCH
from cloud.contract.naming import CamelModel, CamelResponse
from workloads.catalog import Holder, Workload, WorkloadCatalog
from workloads.errors import InconsistentCatalog
from workloads.handoff import Phase
from workloads.invariant import DeliveryEvent, Event, GrantEvent, RevokeEvent

MAX_LOG_PAGE = 5000


class CloudGrantOut(CamelResponse):
    """The cloud gate's record: the last command it applied (epoch 0, no grant: never told)."""

    epoch: int
    holds: bool
    updated_at: datetime | None


class WorkloadAuthorityOut(CamelResponse):
    """One workload of one device: the arbiter's reported record and the cloud gate's.

    The arbiter's fields are None until its connector reports the record
    (`reportedAt` None); `updatedAt` is when the arbiter last changed it.
    `conflict` is the drift the arbiter reported; `gateConflict` is what the
    service sees itself when the arbiter's settled record and the cloud gate
    disagree (`cloud_gate_holds_for_site`: the record says the site holds,
    yet the cloud gate holds a grant; `cloud_gate_lacks_grant`: the record
    says the cloud holds at its epoch, yet the gate does not).
    """

    workload: Workload
    display_name: str
    flag_bit: int
    holder: Holder | None
    epoch: int | None
    phase: Phase | None
    target: Holder | None
    desired: Holder | None
    cloud_grant: CloudGrantOut
    conflict: str | None
    gate_conflict: str | None
    updated_at: datetime | None
    reported_at: datetime | None


class DeviceAuthorityOut(CamelResponse):
    """Authority over each of the seven workloads for one device (catalog order).

    An MDM-only device (no hierarchy, no SMSID) has no arbiter: every
    workload shows no report and no cloud grant.
    """

    device_id: str
    hierarchy_id: str | None
    smsid: str | None
    value: list[WorkloadAuthorityOut]


class HolderCounts(CamelResponse):
    """Reported records of one workload: settled on each side, or in a handoff."""

    configmgr: int
    cloud: int
    in_handoff: int


class WorkloadCountOut(CamelResponse):
    """One workload across the tenant's attached hierarchies.

    `counts` and `conflicts` cover the records the connectors reported;
    `cloudGrants` counts the (device, workload) records the cloud gate holds.
    """

    workload: Workload
    display_name: str
    flag_bit: int
    counts: HolderCounts
    conflicts: int
    cloud_grants: int
    reported_at: datetime | None


class WorkloadCountsOut(CamelResponse):
    """Every workload, in catalog order."""

    value: list[WorkloadCountOut]


class FeatureBooleans(CamelResponse):
    """The base of a features object: one boolean per workload, named by its Graph feature name."""

    @classmethod
    def of(cls, cloud_held: Iterable[WorkloadCatalog]) -> Self:
        """The features object of a device whose cloud holds `cloud_held`."""
        return cls.model_validate({w.feature_name: True for w in cloud_held})


def feature_booleans(catalog: type[WorkloadCatalog]) -> type[FeatureBooleans]:
    """A features model with one boolean field per workload of `catalog`, in catalog order.

    Each field's wire name is the workload's Graph feature name and defaults
    to False; the Python name is its snake_case form.
    """
    fields: dict[str, Any] = {}
    for workload in catalog:
        name = to_snake(workload.feature_name)
        # The wire name is derived back from the Python name: it must come out unchanged.
        if to_camel(name) != workload.feature_name:
            raise InconsistentCatalog(
                f"{workload.feature_name!r} does not survive snake_case and back ({name!r})"
            )
        fields[name] = (bool, False)
    return create_model(
        f"{catalog.__name__}Features", __base__=FeatureBooleans, __module__=__name__, **fields
    )


class ClientEnabledFeatures(feature_booleans(Workload)):  # type: ignore[misc]
    """Per workload, whether the cloud holds it (Graph's configurationManagerClientEnabledFeatures).

    True only for a record the arbiter reported settled (`held`) on the cloud.
    """


class AuthorityLogQuery(CamelModel):
    """Keyset paging of a hierarchy's authority log: entries after sequence `since`."""

    since: int = Field(default=0, ge=0, le=MAX_EPOCH)
    top: int = Field(default=1000, ge=1, le=MAX_LOG_PAGE, alias="$top")


class AuthorityLogEntry(CamelResponse):
    """One thing the cloud gate did: applied a grant or revoke, or delivered a workload.

    `seq` orders a hierarchy's entries (commands and deliveries share it) in
    the order they committed, and `at` never decreases along it: the order
    `workloads.invariant` needs.
    """

    seq: int
    kind: Literal["grant", "revoke", "delivery"]
    smsid: str
    workload: Workload
    epoch: int
    at: datetime

    def event(self) -> Event:
        """The entry as an event of the invariant checker (the cloud side's; device = SMSID)."""
        kind = {"grant": GrantEvent, "revoke": RevokeEvent, "delivery": DeliveryEvent}[self.kind]
        return kind(Holder.CLOUD, self.smsid, self.workload, self.epoch, self.at)


class AuthorityLogPage(CamelResponse):
    """A page of entries by `seq`; pass `since` back for the next one (`more`: one is there)."""

    value: list[AuthorityLogEntry]
    since: int
    more: bool
