"""Seeding an embedded site database with a realistic, deterministic estate.

`seed_site` writes the site row, the site identity, the collections and
`devices` records with their inventory and memberships, in chunks of
`CHUNK_DEVICES` devices, one transaction per chunk. The same arguments give
the same table contents on every run and every chunking.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from installer.demo.site_generator.catalog import (
    DNS_DOMAIN,
    OS_NAME_WORKSTATION,
    PLACEHOLDER_SERIALS,
    SITE_BUILD,
    SITE_NAME,
    SITE_TYPE_PRIMARY,
    SITE_VERSION,
)
from installer.demo.site_generator.device_factory import DeviceRows
from installer.demo.site_generator.naming import has_odd_characters
from installer.demo.site_generator.site_collections import SiteCollections
from installer.demo.site_generator.site_io import DeviceWriter, clear_site, site_is_empty
from installer.demo.site_generator.stream import SiteStream
from onprem.site_schema import cobridge_site_identity, v_Collection, v_Site
from workloads.errors import CobridgeError

CHUNK_DEVICES = 5000
_SITE_CODE = re.compile(r"^[A-Z0-9]{3}$")


class SiteAlreadySeeded(CobridgeError):
    """The target site database already holds data and `replace` was not given."""

    code = "site_already_seeded"


class SeedReport(BaseModel):
    """What `seed_site` wrote, counted from the rows themselves.

    `devices` counts every `v_R_System` row and `memberships` every
    `v_FullCollectionMembership` row; `invalid` maps each invalid kind to the
    ResourceIDs that carry it (every kind is a key, maybe with no IDs). The
    other counts are over the valid records only (every row not in
    `invalid`), which is what a reader that quarantines bad records sees:
    - `with_agent`: Client0 = 1; `without_agent`: Client0 = 0 or NULL (so
      with_agent + without_agent + invalid records = devices);
    - `servers`: server OS; `windows10`/`windows11`: workstation OS by build
      (22000 and up is Windows 11);
    - `obsolete_twins`: Obsolete0 = 1; `decommissioned`: Decommissioned0 = 1;
    - `duplicate_name_groups`: names shared by two or more live records
      (neither obsolete nor decommissioned);
    - `empty_aad_device_id`: AADDeviceID NULL or '';
    - `placeholder_serials`: records whose `v_GS_PC_BIOS` serial is a
      whitebox placeholder such as "To Be Filled By O.E.M.";
    - `odd_character_records`: User_Name0 with non-ASCII letters or quotes,
      or Distinguished_Name0 with an escaped character;
    - `co_managed`: MDMEnrolled = 1 and ComgmtPolicyPresent = 1.
    """

    model_config = ConfigDict(frozen=True)

    hierarchy_id: str
    site_code: str
    instance_id: str
    devices: int
    with_agent: int
    without_agent: int
    servers: int
    windows10: int
    windows11: int
    obsolete_twins: int
    decommissioned: int
    duplicate_name_groups: int
    empty_aad_device_id: int
    placeholder_serials: int
    odd_character_records: int
    co_managed: int
    collections: int
    memberships: int
    invalid: dict[str, list[int]]


def utc_naive(moment: datetime) -> datetime:
    """`moment` as a naive UTC datetime (aware values are converted)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def hierarchy_id_for(seed: int) -> str:
    """The hierarchy GUID of a site generated with `seed`."""
    return str(uuid.UUID(int=random.Random(f"{seed}:hierarchy").getrandbits(128), version=4))


class _Tally:
    """Counts for the report, taken from the rows as they are written."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "devices",
                "with_agent",
                "without_agent",
                "servers",
                "windows10",
                "windows11",
                "obsolete_twins",
                "decommissioned",
                "empty_aad_device_id",
                "placeholder_serials",
                "odd_character_records",
                "co_managed",
                "memberships",
            ),
            0,
        )

    def add(self, device: DeviceRows) -> None:
        c, s = self.counts, device.system
        c["devices"] += 1
        c["memberships"] += len(device.memberships)
        if device.defect is not None:
            return
        client = s["Client0"]
        if client == 1:
            c["with_agent"] += 1
        elif client in (0, None):
            c["without_agent"] += 1
        os_name = s["Operating_System_Name_and0"]
        if "Server" in os_name:
            c["servers"] += 1
        elif os_name == OS_NAME_WORKSTATION:
            build = int(s["Build01"].rsplit(".", 1)[1])
            c["windows11" if build >= 22000 else "windows10"] += 1
        c["obsolete_twins"] += s["Obsolete0"] == 1
        c["decommissioned"] += s["Decommissioned0"] == 1
        c["empty_aad_device_id"] += not s["AADDeviceID"]
        odd = has_odd_characters(s["User_Name0"]) or "\\" in (s["Distinguished_Name0"] or "")
        c["odd_character_records"] += odd
        bios = device.inventory.get("v_GS_PC_BIOS")
        c["placeholder_serials"] += (
            bios is not None and bios["SerialNumber0"] in PLACEHOLDER_SERIALS
        )
        comgmt = device.inventory.get("v_ClientCoManagementState")
        if comgmt is not None:
            c["co_managed"] += comgmt["MDMEnrolled"] == 1 and comgmt["ComgmtPolicyPresent"] == 1


def seed_site(
    engine: sa.Engine,
    *,
    devices: int,
    seed: int = 1,
    as_of: datetime,
    site_code: str = "PS1",
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Fill the empty site database behind `engine` with `devices` device records.

    Refuses a site that holds any row (`SiteAlreadySeeded`) unless `replace`
    is true, which deletes every row first. `progress(n)` is called after each
    committed chunk with the number of device records written so far. Dates
    are anchored on `as_of` (naive UTC), so the output depends only on
    (devices, seed, as_of, site_code) and the database dialect.
    """
    if devices < 0:
        raise ValueError(f"devices must be zero or more, not {devices}")
    if not _SITE_CODE.match(site_code):
        raise ValueError(f"a site code is three letters or digits (such as PS1), not {site_code!r}")
    as_of = utc_naive(as_of)
    hierarchy_id = hierarchy_id_for(seed)
    instance_rng = random.Random(f"{seed}:{site_code}:{devices}:{as_of.isoformat()}:instance")
    instance_id = str(uuid.UUID(int=instance_rng.getrandbits(128), version=4))
    collections = SiteCollections(site_code)
    collection_rows = collections.rows(seed, as_of)

    with engine.connect() as conn:
        with conn.begin():
            if not site_is_empty(conn):
                if not replace:
                    raise SiteAlreadySeeded(
                        "the site database already holds data; refusing to seed over it "
                        "unless replace is passed",
                        hint="pass replace=True (cobridge onprem seed --replace) to delete "
                        "everything in it and seed again",
                    )
                clear_site(conn)
            conn.execute(
                v_Site.insert(),
                {
                    "SiteCode": site_code,
                    "SiteName": SITE_NAME,
                    "Version": SITE_VERSION,
                    "BuildNumber": SITE_BUILD,
                    "Type": SITE_TYPE_PRIMARY,
                    "ReportingSiteCode": "",
                    "ServerName": f"{site_code}SITE.{DNS_DOMAIN}",
                },
            )
            conn.execute(
                cobridge_site_identity.insert(),
                {
                    "id": 1,
                    "instance_id": instance_id,
                    "hierarchy_id": hierarchy_id,
                    "generator_seed": seed,
                    "created_at": as_of,
                },
            )
            conn.execute(v_Collection.insert(), collection_rows)

        stream = SiteStream(
            devices=devices,
            seed=seed,
            as_of=as_of,
            site_code=site_code,
            dialect=engine.dialect.name,
            collections=collections,
        )
        tally = _Tally()
        writer = DeviceWriter(engine.dialect)
        chunk: list[DeviceRows] = []
        for device in stream:
            tally.add(device)
            chunk.append(device)
            if len(chunk) >= CHUNK_DEVICES:
                _commit_chunk(conn, writer, chunk, tally, progress)
                chunk = []
        _commit_chunk(conn, writer, chunk, tally, progress)

    return SeedReport(
        hierarchy_id=hierarchy_id,
        site_code=site_code,
        instance_id=instance_id,
        duplicate_name_groups=stream.duplicate_name_groups,
        collections=len(collection_rows),
        invalid=stream.invalid,
        **tally.counts,
    )


def _commit_chunk(
    conn: sa.Connection,
    writer: DeviceWriter,
    chunk: list[DeviceRows],
    tally: _Tally,
    progress: Callable[[int], None] | None,
) -> None:
    if not chunk:
        return
    with conn.begin():
        writer.write(conn, chunk)
    if progress is not None:
        progress(tally.counts["devices"])
