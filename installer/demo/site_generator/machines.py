"""The physical machine behind a device record: kind, place, hardware, OS, name, AD object."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from installer.demo.site_generator.catalog import (
    CLIENT_RELEASES,
    DEPARTMENTS,
    ESCAPED_OUS,
    LOCATIONS,
    SERVER_HARDWARE,
    SERVER_OS,
    SERVER_ROLES,
    VIRTUAL_HARDWARE,
    WHITEBOX,
    WORKSTATION_HARDWARE,
    Department,
    Hardware,
    Location,
    OsRelease,
)
from installer.demo.site_generator.naming import NameAllocator, Salts, server_dn, workstation_dn
from installer.demo.site_generator.users import pick_user

DAY = 86400
SERVER_SHARE = 0.07
VIRTUAL_SERVER_SHARE = 0.75
VDI_SHARE = 0.03  # of workstations
WHITEBOX_SHARE = 0.0055  # of workstations
ESCAPED_OU_SHARE = 0.02  # of workstations in a department with such an OU
LONG_DN_SHARE = 0.004


def ago(as_of: datetime, rng: random.Random, low_days: float, high_days: float) -> datetime:
    """A whole-second moment between `high_days` and `low_days` before `as_of`."""
    return as_of - timedelta(seconds=int(rng.uniform(low_days, high_days) * DAY))


@dataclass(slots=True)
class Machine:
    """The machine behind a record: what an obsolete twin or a duplicate copies."""

    name: str
    server: bool
    location: Location
    department: Department | None
    server_role: str | None
    hardware: Hardware
    serial: str
    release: OsRelease
    caption: str
    dn: str
    user: str | None
    created: datetime


class MachineMaker:
    """Makes the machines of one site, drawing names from its allocator in index order."""

    def __init__(self, *, as_of: datetime, salts: Salts, names: NameAllocator) -> None:
        self.as_of = as_of
        self.salts = salts
        self.names = names

    def make(self, index: int, rng: random.Random, *, avoid_whitebox: bool) -> Machine:
        """A new machine for the device at `index`; `avoid_whitebox` keeps a real serial."""
        location = LOCATIONS.pick(rng)
        if rng.random() < SERVER_SHARE:
            role = SERVER_ROLES.pick(rng)
            release = SERVER_OS.pick(rng)
            virtual = rng.random() < VIRTUAL_SERVER_SHARE
            hw = VIRTUAL_HARDWARE.pick(rng) if virtual else SERVER_HARDWARE.pick(rng)
            name = self.names.server(role)
            dn, department = server_dn(name, location, role), None
        else:
            role, department = None, DEPARTMENTS.pick(rng)
            release = CLIENT_RELEASES.pick(rng)
            kind = rng.random()
            if kind < VDI_SHARE:
                hw = VIRTUAL_HARDWARE.pick(rng)
            elif kind < VDI_SHARE + WHITEBOX_SHARE and not avoid_whitebox:
                hw = WHITEBOX.pick(rng)
            else:
                hw = WORKSTATION_HARDWARE.pick(rng)
            name = self._workstation_name(index, rng, department, location, hw)
            shape = rng.random()
            if shape < ESCAPED_OU_SHARE and department.code in ESCAPED_OUS:
                dn = workstation_dn(name, location, department, "escaped")
            elif shape > 1 - LONG_DN_SHARE:
                dn = workstation_dn(name, location, department, "long")
            else:
                dn = workstation_dn(name, location, department, "plain")
        return Machine(
            name=name,
            server=role is not None,
            location=location,
            department=department,
            server_role=role,
            hardware=hw,
            serial=self.salts.serial(index, hw, rng),
            release=release,
            caption=release.captions.pick(rng),
            dn=dn,
            user=pick_user(rng, server=role is not None),
            created=ago(self.as_of, rng, 1, 5 * 365),
        )

    def _workstation_name(
        self,
        index: int,
        rng: random.Random,
        department: Department,
        location: Location,
        hw: Hardware,
    ) -> str:
        style = rng.random()
        if style < 0.45:
            return self.names.corporate(department, location, rng.randint(1, 3))
        if style < 0.75:
            return self.salts.oobe_name(index, hw.form)
        if style < 0.95:
            return self.names.wks(rng.randint(1, 5))
        # Longer than NetBIOS allows: Netbios_Name0 keeps the first 15 characters.
        suffix = rng.choice(("KIOSK", "CONFROOM", "LAB", "RECEPTION"))
        return self.names.corporate(department, location, rng.randint(1, 3)) + "-" + suffix
