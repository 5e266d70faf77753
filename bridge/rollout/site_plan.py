"""A rollout's plan over the site as it is now: the site's settings and one streaming read.

The same facts the arbiter uses (`bridge.arbiter.desired.device_facts`), for
the same devices (valid, neither obsolete nor decommissioned), so the plan
counts exactly the handoffs the arbiter will make. A read that did not
complete gives no plan: a partial fleet would hash to another plan, and
admins would review numbers that are not the site's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bridge.arbiter.desired import device_facts
from bridge.sync.ports import InventoryReader
from onprem.site_records import RejectedRecord, SiteDevice
from workloads.errors import CobridgeError
from workloads.rollout import DesiredState, Plan, PlanDevice, Planner
from workloads.settings import CoManagementSettings


class SiteReadIncomplete(CobridgeError):
    """The site's read stopped before its end: no plan is made from part of a fleet."""

    code = "site_read_incomplete"


def plan_devices(records: Iterable[SiteDevice | RejectedRecord]) -> Iterator[PlanDevice]:
    """The planner's devices of a site read: valid, live records only."""
    for record in records:
        if isinstance(record, RejectedRecord):
            continue
        if record.obsolete == 1 or record.decommissioned == 1:
            continue
        yield PlanDevice(smsid=record.smsid, facts=device_facts(record), name=record.name)


def plan_site(
    settings: CoManagementSettings,
    document: DesiredState,
    reader: InventoryReader,
    *,
    sample_size: int = 5,
) -> Plan:
    """The plan of `document` at a site with `settings`, from one complete read."""
    planner = Planner(settings, document, sample_size=sample_size)
    read = reader.read()
    planner.add_all(plan_devices(read))
    if not read.stats.complete:
        raise SiteReadIncomplete(
            "the site's inventory could not be read to its end, so no plan was made",
            hint="check `cobridge doctor` and the site database, then plan again",
        )
    return planner.finish()
