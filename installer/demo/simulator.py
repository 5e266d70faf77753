"""A fleet of simulated co-managed devices, and the log both sides kept of them.

Each device checks in with both sides at random intervals, as a real
co-managed device does: the site's policy delivery (the site adapter) and
the tenant's device check-in (HTTPS, the device's own secret). Each side
logs what it delivered under which grant; `authority_log` merges the two
logs (the site's gate and deliveries; the tenant's gate log and deliveries)
into the time-ordered event list `workloads.invariant.check` replays.

Used by the co-management tests and benchmarks, and by the demo.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bridge.tenant.admin import AdminClient
from bridge.tenant.checkin import CheckInClient
from bridge.tenant.errors import CloudError
from onprem.site_authority import SiteAuthority
from workloads.catalog import Holder, Workload
from workloads.invariant import Event

CHECKIN_PAGE = 1000


@dataclass
class FleetTally:
    """What the simulated devices received, per side, and what failed."""

    check_ins: int = 0
    delivered: dict[Holder, int] = field(default_factory=lambda: dict.fromkeys(Holder, 0))
    failures: int = 0


class DeviceFleet:
    """Simulated devices: each checks in with both sides every `mean_interval` seconds or so."""

    def __init__(
        self,
        site: SiteAuthority,
        devices: Mapping[str, CheckInClient],
        *,
        clock: Callable[[], datetime],
        mean_interval: float = 0.5,
        seed: int = 7,
    ) -> None:
        self._site = site
        self._devices = dict(devices)  # smsid -> a client holding that device's secret
        self._clock = clock
        self._mean = mean_interval
        self._rng = random.Random(seed)
        self.tally = FleetTally()

    async def check_in(self, smsid: str) -> dict[Holder, dict[Workload, int]]:
        """One device's check-in with both sides: what each delivered (workload -> epoch)."""
        got: dict[Holder, dict[Workload, int]] = {}
        site = await asyncio.to_thread(self._site.deliver, smsid, self._clock())
        got[Holder.CONFIGMGR] = site
        try:
            answer = await self._devices[smsid].check_in()
            got[Holder.CLOUD] = {w.workload: w.epoch for w in answer.workloads}
        except CloudError:
            self.tally.failures += 1
            got[Holder.CLOUD] = {}
        self.tally.check_ins += 1
        for side, delivered in got.items():
            self.tally.delivered[side] += len(delivered)
        return got

    async def run(self, stop: asyncio.Event) -> FleetTally:
        """Every device checks in at random intervals until `stop` is set."""

        async def device(smsid: str) -> None:
            while not stop.is_set():
                delay = self._rng.expovariate(1 / self._mean)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    await self.check_in(smsid)

        await asyncio.gather(*(device(s) for s in sorted(self._devices)))
        return self.tally


async def authority_log(site: SiteAuthority, admin: AdminClient, hierarchy_id: str) -> list[Event]:
    """Both sides' logs merged in time order (the site's first at equal times)."""
    events: list[tuple[datetime, int, int, Event]] = [
        (e.at, 0, n, e) for n, e in enumerate(await asyncio.to_thread(lambda: list(site.events())))
    ]
    n = 0
    for fetch in (admin.authority_gate_log, admin.authority_deliveries):
        since = 0
        while True:
            page = await fetch(hierarchy_id, since=since, top=CHECKIN_PAGE)
            for entry in page.value:
                event = entry.event()
                events.append((event.at, 1, n, event))
                n += 1
            if not page.more or not page.value:
                break
            since = page.since
    events.sort(key=lambda item: (item[0], item[1], item[2]))
    return [e for *_, e in events]
