"""Builds every row of one generated device, from its own random stream.

A device's rows depend only on the generator seed, its index, `as_of`, the
site code, the database dialect, the name counters (handed out in index
order) and, for a twin or a duplicate, the machine it copies. Dirty records
are valid except the invalid ones, and each invalid record carries exactly
one defect (`INVALID_KINDS`).
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Literal

from installer.demo.site_generator.catalog import BASE_RESOURCE_ID, DNS_DOMAIN
from installer.demo.site_generator.dirty import INVALID_KINDS, deface, twin_rows
from installer.demo.site_generator.machines import Machine, MachineMaker, ago
from installer.demo.site_generator.naming import NameAllocator, Salts, random_guid
from installer.demo.site_generator.rows import (
    DeviceRows,
    comanagement_row,
    inventory_rows,
    membership_rows,
    pilot_bits,
    system_row,
)
from installer.demo.site_generator.site_collections import (
    ALL_DESKTOP_AND_SERVER_CLIENTS,
    ALL_SYSTEMS,
    SiteCollections,
)

__all__ = ["INVALID_KINDS", "DeviceFactory", "DeviceRows", "Machine", "Role"]

Role = Literal["regular", "twin", "duplicate", "decommissioned", "invalid"]

AGENT_SHARE = 0.92
ACTIVE_SHARE = 0.90
HYBRID_JOIN_SHARE = {False: 0.73, True: 0.30}  # of agent workstations / servers
EMPTY_AAD_SHARE = 0.012  # of agent devices: '' rather than NULL
AUTO_ENROLLMENT_SHARE = 0.20


class DeviceFactory:
    """Builds the devices of one site; call `build` in increasing index order."""

    def __init__(
        self,
        *,
        as_of: datetime,
        site_code: str,
        dialect: str,
        salts: Salts,
        names: NameAllocator,
        collections: SiteCollections,
    ) -> None:
        self.as_of = as_of
        self.site_code = site_code
        self.dialect = dialect
        self.salts = salts
        self.machines = MachineMaker(as_of=as_of, salts=salts, names=names)
        self.collections = collections
        self.mp_servers = (f"{site_code}MP01.{DNS_DOMAIN}", f"{site_code}MP02.{DNS_DOMAIN}")

    def build(
        self,
        index: int,
        rng: random.Random,
        *,
        role: Role = "regular",
        invalid: str | None = None,
        partner: Machine | None = None,
        fresh: bool = False,
    ) -> DeviceRows:
        """All rows of the device at `index` (ResourceID = base + index).

        `partner` is the live machine a "twin" or "duplicate" copies; `fresh`
        makes a machine that joined in the last few days (for `touch_site`).
        """
        as_of = self.as_of
        if role == "twin":
            assert partner is not None
            return twin_rows(
                index,
                rng,
                partner,
                as_of=as_of,
                salts=self.salts,
                site_code=self.site_code,
                mp_servers=self.mp_servers,
            )
        machine = self.machines.make(index, rng, avoid_whitebox=role == "duplicate")
        if role == "duplicate":
            assert partner is not None
            machine.name = partner.name
            machine.dn = "CN=" + partner.name + machine.dn[machine.dn.index(",") :]
        if fresh:
            machine.created = ago(as_of, rng, 0.05, 3)
        rid = BASE_RESOURCE_ID + index
        live = role != "decommissioned"
        agent = role == "decommissioned" or invalid == "wrong_type" or rng.random() < AGENT_SHARE
        active = live and agent and (fresh or rng.random() < ACTIVE_SHARE)
        join, join_share = rng.random(), HYBRID_JOIN_SHARE[machine.server]
        if invalid == "malformed_aad_device_id":
            join = 0.0
        aad: str | None = None
        if agent and join < join_share:
            aad = str(random_guid(rng))
        elif agent and join < join_share + EMPTY_AAD_SHARE:
            aad = ""
        system = system_row(as_of, rid, rng, machine, agent=agent, active=active, aad=aad)
        system["Decommissioned0"] = 0 if live else 1
        device = DeviceRows(rid, machine, system, has_agent=agent)
        if live and not machine.server:
            device.pilot_bits = pilot_bits(rng)
        if agent:
            device.inventory = inventory_rows(
                as_of, device, rng, active=active, fresh=fresh, mp_servers=self.mp_servers
            )
            eligible = live and bool(aad) and not machine.server
            comanagement = comanagement_row(device, rng, eligible=eligible)
            device.inventory["v_ClientCoManagementState"] = comanagement
        membership_rows(device, self._collections(device, rng, live=live), self.site_code)
        if invalid is not None:
            deface(device, rng, invalid, self.dialect)
        return device

    def _collections(self, device: DeviceRows, rng: random.Random, *, live: bool) -> list[str]:
        """The collections the device is a member of; each one's limiting collection too."""
        if not live:
            return [ALL_SYSTEMS]
        m = device.machine
        ids = [ALL_SYSTEMS]
        if device.has_agent:
            ids.append(ALL_DESKTOP_AND_SERVER_CLIENTS)
        if m.server:
            ids.append(self.collections.all_servers)
            return ids
        assert m.department is not None
        ids += self.collections.workstation_memberships(
            department=m.department.code,
            location=m.location.code,
            windows11=m.release.family == "windows11",
            pilot_bits=device.pilot_bits,
            auto_enrollment=rng.random() < AUTO_ENROLLMENT_SHARE,
        )
        return ids
