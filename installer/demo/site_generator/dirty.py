"""Dirty records: obsolete twins left by re-imaging, and invalid records with one defect each."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from installer.demo.site_generator.catalog import (
    BASE_RESOURCE_ID,
    OLD_CLIENT_VERSIONS,
    TENANT_ID,
    WIN10_RELEASES,
)
from installer.demo.site_generator.machines import DAY, Machine
from installer.demo.site_generator.naming import Salts, random_guid
from installer.demo.site_generator.rows import (
    DeviceRows,
    comanagement_row,
    inventory_rows,
    membership_rows,
    system_row,
)
from installer.demo.site_generator.site_collections import ALL_SYSTEMS

INVALID_KINDS: tuple[str, ...] = (
    "malformed_smsid",
    "malformed_aad_device_id",
    "empty_name",
    "control_character_in_name",
    "overlong_name",
    "impossible_date",
    "wrong_type",
)
SAME_SERIAL_SHARE = 0.85  # the rest had their mainboard replaced


def twin_rows(
    index: int,
    rng: random.Random,
    partner: Machine,
    *,
    as_of: datetime,
    salts: Salts,
    site_code: str,
    mp_servers: tuple[str, str],
) -> DeviceRows:
    """The obsolete record `partner` left behind before it was re-imaged.

    Same name, AD object and usually serial; its own SMSID; dates older than
    the partner's record; member of All Systems only.
    """
    oldest = as_of - timedelta(days=5 * 365)
    created = (oldest + (partner.created - oldest) * rng.random()).replace(microsecond=0)
    ended = (created + (partner.created - created) * rng.random()).replace(microsecond=0)
    release, caption = partner.release, partner.caption
    if release.family == "windows11" and rng.random() < 0.5:
        release = WIN10_RELEASES[19045]  # it ran Windows 10 before the re-image
        caption = release.captions.pick(rng)
    same_serial = rng.random() < SAME_SERIAL_SHARE
    machine = Machine(
        name=partner.name,
        server=partner.server,
        location=partner.location,
        department=partner.department,
        server_role=partner.server_role,
        hardware=partner.hardware,
        serial=partner.serial if same_serial else salts.serial(index, partner.hardware, rng),
        release=release,
        caption=caption,
        dn=partner.dn,
        user=partner.user,
        created=created,
    )
    rid = BASE_RESOURCE_ID + index
    aad = str(random_guid(rng)) if rng.random() < 0.5 else None
    system = system_row(as_of, rid, rng, machine, agent=True, active=False, aad=aad)
    last_logon = ended - timedelta(seconds=rng.randrange(0, DAY))
    system.update(
        Obsolete0=1,
        Active0=0,
        Client_Version0=OLD_CLIENT_VERSIONS.pick(rng),
        Last_Logon_Timestamp0=max(created, last_logon),
    )
    device = DeviceRows(rid, machine, system, has_agent=True)
    device.inventory = inventory_rows(
        as_of, device, rng, active=False, fresh=False, mp_servers=mp_servers
    )
    health = device.inventory["v_CH_ClientSummary"]
    for column in ("LastActiveTime", "LastPolicyRequest", "LastDDR", "LastHW"):
        health[column] = max(created, ended - timedelta(seconds=rng.randrange(0, 2 * DAY)))
    health["LastEvaluationHealthy"] = 3
    os_row = device.inventory["v_GS_OPERATING_SYSTEM"]
    os_row["LastBootUpTime0"] = max(created, ended - timedelta(seconds=rng.randrange(0, DAY)))
    device.inventory["v_ClientCoManagementState"] = comanagement_row(device, rng, eligible=False)
    membership_rows(device, [ALL_SYSTEMS], site_code)
    return device


def deface(device: DeviceRows, rng: random.Random, kind: str, dialect: str) -> None:
    """Give a valid device exactly one defect of `kind` (one of `INVALID_KINDS`).

    PostgreSQL cannot store NUL in text nor text in an integer column, so
    there the control character is BEL and the wrong value an out-of-range 7.
    """
    system = device.system
    name = system["Name0"]
    device.defect = kind
    if kind == "malformed_smsid":
        good = system["SMS_Unique_Identifier0"]
        system["SMS_Unique_Identifier0"] = rng.choice(
            (good[:-4], good[5:], good[:12] + "Z" + good[13:])
        )
    elif kind == "malformed_aad_device_id":
        good = str(random_guid(rng))
        system["AADDeviceID"] = rng.choice((good[:-6], good.replace("-", "_"), "not-registered"))
        system["AADTenantID"] = TENANT_ID
    elif kind == "empty_name":
        system["Name0"] = system["Netbios_Name0"] = rng.choice(("", None))
    elif kind == "control_character_in_name":
        bad = "\x00" if dialect == "sqlite" else "\x07"
        cut = rng.randrange(3, len(name))
        system["Name0"] = name[:cut] + bad + name[cut:]
    elif kind == "overlong_name":
        system["Name0"] = (name + "-REIMAGE-PENDING" * 20)[: rng.randrange(300, 340)]
    elif kind == "impossible_date":
        year = rng.choice((2999, 1700))
        system["Creation_Date0"] = system["Creation_Date0"].replace(year=year, day=1)
    elif kind == "wrong_type":
        system["Client0"] = "yes" if dialect == "sqlite" else 7
    else:
        raise ValueError(f"unknown invalid kind {kind!r}")
    for membership in device.memberships:
        membership["Name"] = system["Name0"]
