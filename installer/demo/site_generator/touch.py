"""A day at a seeded site: devices check in and change, new ones arrive, old ones go.

`touch_site` modifies `devices` live agent devices (client health advances on
all of them; some also get a feature update, a new primary user or enroll
into co-management), adds about `devices / 10` new devices above the highest
ResourceID and deletes about `devices / 20` live devices from every view.
Only valid live records are touched; the three sets are disjoint. The result
depends only on the database contents, `seed` and `as_of`.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from installer.demo.site_generator.catalog import (
    BASE_RESOURCE_ID,
    NETBIOS_DOMAIN,
    OS_NAME_WORKSTATION,
    UPGRADES,
    workload_flags,
)
from installer.demo.site_generator.device_factory import DeviceFactory
from installer.demo.site_generator.naming import NameAllocator, Salts
from installer.demo.site_generator.seed import utc_naive
from installer.demo.site_generator.site_collections import SiteCollections
from installer.demo.site_generator.site_io import DeviceWriter, batches, rows_by_id, update_rows
from installer.demo.site_generator.users import pick_user
from onprem.site_schema import (
    cobridge_site_identity,
    site_metadata,
    v_CH_ClientSummary,
    v_ClientCoManagementState,
    v_FullCollectionMembership,
    v_GS_COMPUTER_SYSTEM,
    v_GS_OPERATING_SYSTEM,
    v_R_System,
    v_Site,
)
from workloads.errors import CobridgeError

UPGRADE_SHARE = 0.25
NEW_USER_SHARE = 0.25
ENROLL_SHARE = 0.5  # of the modified devices that are eligible and not yet co-managed
_SYSTEM_COLUMNS = [
    "Name0",
    "Operating_System_Name_and0",
    "Build01",
    "User_Name0",
    "AADDeviceID",
    "Last_Logon_Timestamp0",
    "Client0",
]
_SMSID = re.compile(r"^GUID:[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SiteNotSeeded(CobridgeError):
    """The site database has no site row, so there is nothing to touch."""

    code = "site_not_seeded"


class TouchReport(BaseModel):
    """The ResourceIDs `touch_site` modified, added and deleted (disjoint, ascending)."""

    model_config = ConfigDict(frozen=True)

    modified: list[int]
    added: list[int]
    deleted: list[int]


def _flag(value: Any) -> bool:
    return value is None or (type(value) is int and value in (0, 1))


def is_valid_live(row: sa.Row[Any]) -> bool:
    """Whether a `v_R_System` row is live (not obsolete or decommissioned) and valid."""
    name, aad, created = row.Name0, row.AADDeviceID, row.Creation_Date0
    return (
        not row.Obsolete0
        and not row.Decommissioned0
        and _flag(row.Client0)
        and _flag(row.Active0)
        and isinstance(name, str)
        and 0 < len(name) <= 255
        and not _CONTROL.search(name)
        and isinstance(row.SMS_Unique_Identifier0, str)
        and _SMSID.match(row.SMS_Unique_Identifier0) is not None
        and (not aad or _GUID.match(aad) is not None)
        and (created is None or 1990 <= created.year <= 2100)
    )


class _Toucher:
    """One touch run: its random stream, its clock and the site it changes."""

    def __init__(self, conn: sa.Connection, *, seed: int, as_of: datetime) -> None:
        self.conn = conn
        self.seed = seed
        self.as_of = as_of
        self.rng = random.Random(f"{seed}:touch:{as_of.isoformat()}")
        site_code = conn.execute(sa.select(v_Site.c.SiteCode).order_by(v_Site.c.SiteCode)).scalar()
        if site_code is None:
            raise SiteNotSeeded(
                "the site database holds no site; there is nothing to touch",
                hint="seed it first (cobridge onprem seed)",
            )
        self.site_code: str = site_code
        self.collections = SiteCollections(site_code)

    def advanced(self, old: datetime | None) -> datetime:
        """A moment after `old`, near `as_of` when `old` is earlier."""
        recent = self.as_of - timedelta(seconds=self.rng.randrange(0, 1800))
        if old is None:
            return recent
        return max(recent, old + timedelta(seconds=self.rng.randrange(60, 3600)))

    def modify(self, ids: list[int]) -> None:
        """Advance client health on `ids`; upgrade, reassign or enroll some of them."""
        conn, rng, c = self.conn, self.rng, self.collections
        system = rows_by_id(conn, v_R_System, _SYSTEM_COLUMNS, ids)
        health = rows_by_id(
            conn,
            v_CH_ClientSummary,
            ["LastActiveTime", "LastPolicyRequest", "LastDDR", "LastHW"],
            ids,
        )
        comgmt = rows_by_id(
            conn, v_ClientCoManagementState, ["MDMEnrolled", "ComgmtPolicyPresent"], ids
        )
        os_rows = rows_by_id(conn, v_GS_OPERATING_SYSTEM, ["Caption0"], ids)
        pilots: dict[int, int] = {}
        m = v_FullCollectionMembership.c
        for batch in batches(ids):
            for rid, cid in conn.execute(
                sa.select(m.ResourceID, m.CollectionID).where(
                    m.ResourceID.in_(batch), m.CollectionID.in_(list(c.pilot_bit))
                )
            ):
                pilots[rid] = pilots.get(rid, 0) | c.pilot_bit[cid]

        health_rows, system_rows, upgrades, os_updates, users, enrolls, win11 = (
            [] for _ in range(7)
        )
        for rid in ids:
            s, h = system[rid], health.get(rid)
            if h is not None:
                health_rows.append(
                    {
                        "ResourceID": rid,
                        "ClientActiveStatus": 1,
                        "LastActiveTime": self.advanced(h.LastActiveTime),
                        "LastPolicyRequest": self.advanced(h.LastPolicyRequest),
                        "LastDDR": self.advanced(h.LastDDR),
                        "LastHW": self.advanced(h.LastHW),
                    }
                )
            system_rows.append(
                {
                    "ResourceID": rid,
                    "Active0": 1,
                    "Last_Logon_Timestamp0": self.advanced(s.Last_Logon_Timestamp0),
                }
            )
            workstation = s.Operating_System_Name_and0 == OS_NAME_WORKSTATION
            build = int(s.Build01.rsplit(".", 1)[1]) if s.Build01 else 0
            target = UPGRADES.get(build) if workstation else None
            if target is not None and rid in os_rows and rng.random() < UPGRADE_SHARE:
                caption = os_rows[rid].Caption0 or ""
                if target.family == "windows11" and build < 22000:
                    caption = caption.replace("Windows 10", "Windows 11")
                    win11.append(rid)
                upgrades.append({"ResourceID": rid, "Build01": target.version})
                install = self.as_of - timedelta(seconds=rng.randrange(3600, 3 * 86400))
                os_updates.append(
                    {
                        "ResourceID": rid,
                        "Caption0": caption,
                        "Version0": target.version,
                        "InstallDate0": install,
                    }
                )
            if rng.random() < NEW_USER_SHARE:
                user = pick_user(rng, server=not workstation)
                while user is None or user == s.User_Name0:
                    user = pick_user(rng, server=not workstation)
                users.append({"ResourceID": rid, "User_Name0": user})
            state = comgmt.get(rid)
            if (
                workstation
                and s.AADDeviceID
                and state is not None
                and not (state.MDMEnrolled == 1 and state.ComgmtPolicyPresent == 1)
                and rng.random() < ENROLL_SHARE
            ):
                enrolls.append(
                    {
                        "ResourceID": rid,
                        "MDMEnrolled": 1,
                        "ComgmtPolicyPresent": 1,
                        "MDMProvisioned": 1,
                        "MDMWorkloads": workload_flags(pilots.get(rid, 0)),
                        "EnrollmentStatusCode": 0,
                        "EnrollmentErrorDetail": None,
                    }
                )

        update_rows(conn, v_CH_ClientSummary, health_rows)
        update_rows(conn, v_R_System, system_rows)
        update_rows(conn, v_R_System, upgrades)
        update_rows(conn, v_GS_OPERATING_SYSTEM, os_updates)
        update_rows(conn, v_R_System, users)
        update_rows(
            conn,
            v_GS_COMPUTER_SYSTEM,
            [
                {"ResourceID": u["ResourceID"], "UserName0": f"{NETBIOS_DOMAIN}\\{u['User_Name0']}"}
                for u in users
            ],
        )
        update_rows(conn, v_ClientCoManagementState, enrolls)
        if win11:
            conn.execute(
                v_FullCollectionMembership.insert(),
                [
                    {
                        "CollectionID": c.windows11,
                        "ResourceID": rid,
                        "Name": system[rid].Name0,
                        "SiteCode": self.site_code,
                        "IsClient": 1 if system[rid].Client0 == 1 else 0,
                    }
                    for rid in win11
                ],
            )

    def delete(self, ids: list[int]) -> None:
        """Remove `ids` from every view that has a ResourceID."""
        for table in site_metadata.sorted_tables:
            if "ResourceID" not in table.c:
                continue
            for batch in batches(ids):
                self.conn.execute(table.delete().where(table.c.ResourceID.in_(batch)))

    def add(self, count: int, names: list[str | None], highest: int) -> list[int]:
        """Add `count` new, valid devices with ResourceIDs above `highest`."""
        generator_seed = self.conn.execute(
            sa.select(cobridge_site_identity.c.generator_seed)
        ).scalar()
        allocator = NameAllocator()
        allocator.resume(names)
        factory = DeviceFactory(
            as_of=self.as_of,
            site_code=self.site_code,
            dialect=self.conn.dialect.name,
            salts=Salts(self.seed if generator_seed is None else generator_seed),
            names=allocator,
            collections=self.collections,
        )
        first = max(highest + 1, BASE_RESOURCE_ID)
        devices = []
        for rid in range(first, first + count):
            index = rid - BASE_RESOURCE_ID
            rng = random.Random(f"{self.seed}:touch:{self.as_of.isoformat()}:{index}")
            devices.append(factory.build(index, rng, fresh=True))
        DeviceWriter(self.conn.dialect).write(self.conn, devices)
        return [d.resource_id for d in devices]


def touch_site(engine: sa.Engine, *, devices: int, seed: int = 1, as_of: datetime) -> TouchReport:
    """Change `devices` live devices, add about devices/10 and delete about devices/20.

    Raises `SiteNotSeeded` on a database without a site. Fewer devices are
    modified or deleted only when the site has fewer valid live ones.
    """
    if devices < 0:
        raise ValueError(f"devices must be zero or more, not {devices}")
    if devices == 0:
        return TouchReport(modified=[], added=[], deleted=[])
    as_of = utc_naive(as_of)
    with engine.connect() as conn, conn.begin():
        toucher = _Toucher(conn, seed=seed, as_of=as_of)
        rows = conn.execute(
            sa.select(
                v_R_System.c.ResourceID,
                v_R_System.c.Name0,
                v_R_System.c.SMS_Unique_Identifier0,
                v_R_System.c.AADDeviceID,
                v_R_System.c.Creation_Date0,
                v_R_System.c.Client0,
                v_R_System.c.Active0,
                v_R_System.c.Obsolete0,
                v_R_System.c.Decommissioned0,
            ).order_by(v_R_System.c.ResourceID)
        ).all()
        highest = rows[-1].ResourceID if rows else BASE_RESOURCE_ID - 1
        live = [r for r in rows if is_valid_live(r)]
        agents = [r.ResourceID for r in live if r.Client0 == 1]
        modified = sorted(toucher.rng.sample(agents, min(devices, len(agents))))
        chosen = set(modified)
        # The highest ResourceID is never deleted, so new ones never reuse a deleted one.
        others = [
            r.ResourceID for r in live if r.ResourceID not in chosen and r.ResourceID != highest
        ]
        deleted = sorted(toucher.rng.sample(others, min(max(1, round(devices / 20)), len(others))))
        toucher.modify(modified)
        toucher.delete(deleted)
        # Names of deleted devices stay taken: their obsolete twins may still carry them.
        names = [r.Name0 for r in rows]
        added = toucher.add(max(1, round(devices / 10)), names, highest)
    return TouchReport(modified=modified, added=added, deleted=deleted)
