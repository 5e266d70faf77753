"""Drift: a device's reported co-management flags disagree with the site's gate.

The site's inventory (`v_ClientCoManagementState.MDMWorkloads`) says, per
device, which workloads the device takes from the cloud: a workload's bit set
means the cloud applies it, clear means the site does (DOMAIN.md). The site's
gate says whether the site holds the workload. They agree when exactly one of
"reported cloud" and "site holds" is true.

The rule, for each gate record the site stored at epoch > 0:

- a device without a report, or whose report is not a flags integer (NULL,
  negative), says nothing and is skipped;
- the workload is reported cloud-applied when the configured bit (1) and the
  workload's bit are both set: a device that reports co-management as not
  configured applies everything from the site. Unknown bits (0x1000, 0x2000
  from some agents) are ignored;
- a conflict is a disagreement that has lasted at least `grace`, measured from
  when the gate record took its current value (`updated_at`): reports lag the
  gate by up to a policy cycle, so a younger disagreement is a report in
  flight, not drift.

Two kinds: the cloud applies a workload the site's gate holds (both sides may
be applying it), or the device still takes from the site a workload the site
revoked (the site's policy is still in effect without a grant).

Records at epoch 0 are the initial record of a device the arbiter never
commanded; a disagreement there is a device the arbiter has not arbitrated
yet (e.g. co-managed before the site was attached), not drift, and is left to
the arbiter's first reconciliation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from onprem.site_authority import Conflict, ConflictKind, GateEntry, as_utc
from workloads import flags as co_flags
from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.errors import InvalidFlags

_ORDER = {workload: index for index, workload in enumerate(ALL_WORKLOADS)}


def reported_cloud_workloads(reported: int) -> frozenset[Workload] | None:
    """The workloads a reported flags integer says the cloud applies; None if it is no integer."""
    try:
        if not co_flags.is_configured(reported):
            return frozenset()
        return co_flags.decode(reported)
    except InvalidFlags:
        return None


def find_drift(
    entries: Iterable[GateEntry],
    reported: Mapping[str, int | None],
    *,
    now: datetime,
    grace: timedelta,
) -> list[Conflict]:
    """Every conflict between `reported` (smsid -> MDMWorkloads) and the gate `entries`.

    Sorted by device, then workload in catalog order. Pure: `now` is passed in.
    """
    if grace < timedelta(0):
        raise ValueError(f"the drift grace period must not be negative, got {grace}")
    now = as_utc(now)
    conflicts: list[Conflict] = []
    decoded: dict[str, frozenset[Workload] | None] = {}
    for entry in entries:
        value = reported.get(entry.smsid)
        if entry.record.epoch == 0 or value is None:
            continue
        if entry.smsid not in decoded:
            decoded[entry.smsid] = reported_cloud_workloads(value)
        cloud = decoded[entry.smsid]
        if cloud is None:
            continue
        reported_cloud = entry.workload in cloud
        holds = entry.record.holds
        since = as_utc(entry.updated_at)
        if reported_cloud != holds or now - since < grace:
            continue
        kind = ConflictKind.CLOUD_WHILE_SITE_HOLDS if holds else ConflictKind.SITE_AFTER_REVOKE
        conflicts.append(
            Conflict(
                smsid=entry.smsid,
                workload=entry.workload,
                kind=kind,
                reported_flags=value,
                reported_cloud=reported_cloud,
                site_holds=holds,
                epoch=entry.record.epoch,
                since=since,
            )
        )
    conflicts.sort(key=lambda c: (c.smsid, _ORDER[c.workload]))
    return conflicts
