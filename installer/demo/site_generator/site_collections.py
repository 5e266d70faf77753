"""The generated site's collections and the rules that decide each device's memberships.

Built-in collections keep their real IDs (`SMS00001` All Systems and so on);
custom ones are numbered `<site code>` + five hex digits from 00010, as a site
numbers them. Every device collection except All Systems is limited to
another one, and membership rules never put a device in a collection without
putting it in the limiting collection too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from installer.demo.site_generator.catalog import (
    DEPARTMENTS,
    LOCATIONS,
    pilot_collection_name,
)
from workloads.catalog import ALL_WORKLOADS

DEVICE_COLLECTION = 2
USER_COLLECTION = 1

ALL_SYSTEMS = "SMS00001"
ALL_USERS = "SMS00002"
ALL_USERS_AND_GROUPS = "SMS00004"
ALL_DESKTOP_AND_SERVER_CLIENTS = "SMSDM003"
ALL_UNKNOWN_COMPUTERS = "SMS000US"

AUTO_ENROLLMENT_NAME = "Co-management Auto Enrollment"


@dataclass(frozen=True, slots=True)
class CollectionDef:
    """One row of `v_Collection`, before its change time is set."""

    collection_id: str
    name: str
    collection_type: int
    limit_to: str | None


class SiteCollections:
    """The collection catalog of one site and the IDs membership rules refer to."""

    def __init__(self, site_code: str) -> None:
        self.site_code = site_code
        self._next = 0x10
        self.definitions: list[CollectionDef] = [
            CollectionDef(ALL_SYSTEMS, "All Systems", DEVICE_COLLECTION, None),
            CollectionDef(ALL_USERS, "All Users", USER_COLLECTION, None),
            CollectionDef(ALL_USERS_AND_GROUPS, "All Users and User Groups", USER_COLLECTION, None),
            CollectionDef(
                ALL_DESKTOP_AND_SERVER_CLIENTS,
                "All Desktop and Server Clients",
                DEVICE_COLLECTION,
                ALL_SYSTEMS,
            ),
            CollectionDef(
                ALL_UNKNOWN_COMPUTERS, "All Unknown Computers", DEVICE_COLLECTION, ALL_SYSTEMS
            ),
        ]
        self.all_workstations = self._custom("All Workstations", ALL_SYSTEMS)
        self.all_servers = self._custom("All Servers", ALL_SYSTEMS)
        self.department: dict[str, str] = {
            d.code: self._custom(f"{d.name} Workstations", self.all_workstations)
            for d in DEPARTMENTS.values
        }
        self.location: dict[str, str] = {
            loc.code: self._custom(f"{loc.city} Workstations", self.all_workstations)
            for loc in LOCATIONS.values
        }
        self.windows11 = self._custom("Windows 11 Devices", self.all_workstations)
        self.auto_enrollment = self._custom(AUTO_ENROLLMENT_NAME, self.all_workstations)
        self.pilot: dict[int, str] = {
            w.flag: self._custom(pilot_collection_name(w), self.all_workstations)
            for w in ALL_WORKLOADS
        }
        self.pilot_bit: dict[str, int] = {cid: bit for bit, cid in self.pilot.items()}

    def _custom(self, name: str, limit_to: str) -> str:
        collection_id = f"{self.site_code}{self._next:05X}"
        self._next += 1
        self.definitions.append(CollectionDef(collection_id, name, DEVICE_COLLECTION, limit_to))
        return collection_id

    def rows(self, seed: int, as_of: datetime) -> list[dict[str, Any]]:
        """The `v_Collection` rows, each last changed at some moment before `as_of`."""
        rng = random.Random(f"{seed}:collections")
        return [
            {
                "CollectionID": c.collection_id,
                "Name": c.name,
                "CollectionType": c.collection_type,
                "LimitToCollectionID": c.limit_to,
                "LastChangeTime": as_of - timedelta(seconds=rng.randrange(600, 30 * 86400)),
            }
            for c in self.definitions
        ]

    def workstation_memberships(
        self,
        *,
        department: str,
        location: str,
        windows11: bool,
        pilot_bits: int,
        auto_enrollment: bool,
    ) -> list[str]:
        """The collections a live workstation belongs to beyond All Systems and the clients."""
        ids = [self.all_workstations, self.department[department], self.location[location]]
        if windows11:
            ids.append(self.windows11)
        if auto_enrollment:
            ids.append(self.auto_enrollment)
        ids.extend(cid for bit, cid in self.pilot.items() if pilot_bits & bit)
        return ids
