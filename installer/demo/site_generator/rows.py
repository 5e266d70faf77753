"""The rows one device contributes to each site view, built from its machine and its stream."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from installer.demo.site_generator.catalog import (
    AD_NEVER,
    CLIENT_VERSIONS,
    DNS_DOMAIN,
    ENROLLMENT_ERRORS,
    EXTRA_FLAG_BITS,
    NETBIOS_DOMAIN,
    OS_NAME_ADVANCED_SERVER,
    OS_NAME_SERVER,
    OS_NAME_WORKSTATION,
    RESOURCE_TYPE_SYSTEM,
    TENANT_ID,
    workload_flags,
)
from installer.demo.site_generator.machines import DAY, Machine, ago
from installer.demo.site_generator.naming import smsid
from workloads.catalog import ALL_WORKLOADS, Carriage, Workload

CO_MANAGED_SHARE = 0.60  # of eligible devices
PILOT_RING_SHARE = 0.02  # early adopters in every pilot
PILOT_SHARE = 0.03  # each pilot on its own, on top of the ring
EXTRA_BITS_SHARE = 0.04
# A workload that always follows its carrier has no pilot of its own to draw:
# its pilot holds its carrier's members (Resource access, Device configuration).
_PILOT_BITS = tuple(w.flag for w in ALL_WORKLOADS if w.carriage is not Carriage.ALWAYS)
_FOLLOWER_BITS = tuple(
    (w.carrier.flag, w.flag)
    for w in Workload.in_dependency_order()
    if w.carrier is not None and w.carriage is Carriage.ALWAYS
)


@dataclass(slots=True)
class DeviceRows:
    """Every row one device contributes, keyed by table name, plus its machine."""

    resource_id: int
    machine: Machine
    system: dict[str, Any]
    inventory: dict[str, dict[str, Any]] = field(default_factory=dict)
    memberships: list[dict[str, Any]] = field(default_factory=list)
    has_agent: bool = False
    pilot_bits: int = 0
    defect: str | None = None  # the invalid kind, for invalid records


def system_row(
    as_of: datetime,
    rid: int,
    rng: random.Random,
    machine: Machine,
    *,
    agent: bool,
    active: bool,
    aad: str | None,
) -> dict[str, Any]:
    """The `v_R_System` row of a live, valid record of `machine`."""
    if machine.server:
        advanced = machine.caption.endswith("Datacenter")
        os_name = OS_NAME_ADVANCED_SERVER if advanced else OS_NAME_SERVER
    else:
        os_name = OS_NAME_WORKSTATION
    if agent:
        logon: datetime = max(machine.created, ago(as_of, rng, 0, 30 if active else 60))
    elif rng.random() < 0.25:
        logon = AD_NEVER
    else:
        logon = max(machine.created, ago(as_of, rng, 0, 30))
    return {
        "ResourceID": rid,
        "ResourceType": RESOURCE_TYPE_SYSTEM,
        "Name0": machine.name,
        "Netbios_Name0": machine.name[:15].upper(),
        "SMS_Unique_Identifier0": smsid(rng),
        "Resource_Domain_OR_Workgr0": NETBIOS_DOMAIN,
        "Operating_System_Name_and0": os_name,
        "Build01": machine.release.version,
        "Client0": 1 if agent else (0 if rng.random() < 0.4 else None),
        "Client_Version0": CLIENT_VERSIONS.pick(rng) if agent else None,
        "Active0": 1 if active else (None if not agent and rng.random() < 0.1 else 0),
        "Obsolete0": 0,
        "Decommissioned0": 0,
        "User_Name0": machine.user,
        "Distinguished_Name0": machine.dn,
        "AD_Site_Name0": machine.location.ad_site,
        "Is_Virtual_Machine0": 1 if machine.hardware.virtual else 0,
        "Last_Logon_Timestamp0": logon,
        "Creation_Date0": machine.created,
        "AADDeviceID": aad,
        "AADTenantID": TENANT_ID if aad else None,
    }


def inventory_rows(
    as_of: datetime,
    device: DeviceRows,
    rng: random.Random,
    *,
    active: bool,
    fresh: bool,
    mp_servers: tuple[str, str],
) -> dict[str, dict[str, Any]]:
    """Hardware inventory and client health rows of an agent device."""
    m, rid, created = device.machine, device.resource_id, device.machine.created
    if active:
        seen = ago(as_of, rng, 0, 7)
        boot = ago(as_of, rng, 0, 10)
        ddr, hw = ago(as_of, rng, 0, 7), ago(as_of, rng, 0, 7)
    else:
        seen = ago(as_of, rng, 8, 90)
        boot = seen - timedelta(seconds=rng.randrange(DAY, 20 * DAY))
        ddr = seen - timedelta(seconds=rng.randrange(0, 7 * DAY))
        hw = seen - timedelta(seconds=rng.randrange(0, 7 * DAY))
    policy = seen - timedelta(seconds=rng.randrange(0, 3600))
    install = created - timedelta(seconds=rng.randrange(1800, 6 * 3600))
    return {
        "v_GS_OPERATING_SYSTEM": {
            "ResourceID": rid,
            "Caption0": m.caption,
            "Version0": m.release.version,
            "InstallDate0": install,
            "LastBootUpTime0": max(created, boot),
        },
        "v_GS_COMPUTER_SYSTEM": {
            "ResourceID": rid,
            "Manufacturer0": m.hardware.manufacturer,
            "Model0": m.hardware.model,
            "Domain0": DNS_DOMAIN,
            "UserName0": f"{NETBIOS_DOMAIN}\\{m.user}" if m.user else None,
        },
        "v_GS_PC_BIOS": {"ResourceID": rid, "SerialNumber0": m.serial},
        "v_CH_ClientSummary": {
            "ResourceID": rid,
            "ClientActiveStatus": 1 if active else 0,
            "LastActiveTime": max(created, seen),
            "LastPolicyRequest": max(created, policy),
            "LastDDR": max(created, ddr),
            "LastHW": max(created, hw),
            "LastMPServerName": mp_servers[rng.random() < 0.4],
            "LastEvaluationHealthy": 1 if fresh else _evaluation(rng),
        },
    }


def _evaluation(rng: random.Random) -> int:
    r = rng.random()
    return 1 if r < 0.9 else (2 if r < 0.96 else 3)


def comanagement_row(device: DeviceRows, rng: random.Random, *, eligible: bool) -> dict[str, Any]:
    """The `v_ClientCoManagementState` row; only an `eligible` device may be co-managed.

    A co-managed device's MDMWorkloads is 1 plus the workloads its pilots
    hand to the cloud; every other device reports NULL or 1.
    """
    joined = bool(device.system["AADDeviceID"])
    row: dict[str, Any] = {
        "ResourceID": device.resource_id,
        "MachineId": device.resource_id,
        "MDMEnrolled": 0,
        "ComgmtPolicyPresent": 0,
        "MDMProvisioned": 0,
        "HybridAADJoined": 1 if joined else 0,
        "AADJoined": 0,
        "MDMWorkloads": None,
        "EnrollmentStatusCode": None,
        "EnrollmentErrorDetail": None,
    }
    if not eligible:
        return row
    state = rng.random()
    if state < CO_MANAGED_SHARE:
        flags = workload_flags(device.pilot_bits)
        if rng.random() < EXTRA_BITS_SHARE:
            flags |= rng.choice(EXTRA_FLAG_BITS)
        row.update(MDMEnrolled=1, ComgmtPolicyPresent=1, MDMProvisioned=1, MDMWorkloads=flags)
        row["EnrollmentStatusCode"] = 0
    elif state < 0.66:  # enrolled by policy before co-management reached it
        row.update(MDMEnrolled=1, MDMProvisioned=1, EnrollmentStatusCode=0)
    elif state < 0.80:  # the site's policy arrived, enrollment failed
        code, detail = ENROLLMENT_ERRORS.pick(rng)
        row.update(ComgmtPolicyPresent=1, EnrollmentStatusCode=code)
        row["EnrollmentErrorDetail"] = detail
        row["MDMWorkloads"] = 1 if rng.random() < 0.5 else None
    elif state < 0.90:  # policy arrived, enrollment not attempted yet
        row.update(ComgmtPolicyPresent=1, MDMWorkloads=1)
    return row


def pilot_bits(rng: random.Random) -> int:
    """The workloads whose pilot collection holds a live workstation, as flag bits."""
    if rng.random() < PILOT_RING_SHARE:
        return sum(w.flag for w in ALL_WORKLOADS)
    bits = 0
    for bit in _PILOT_BITS:
        if rng.random() < PILOT_SHARE:
            bits |= bit
    for carrier_bit, follower_bit in _FOLLOWER_BITS:
        if bits & carrier_bit:
            bits |= follower_bit
    return bits


def membership_rows(device: DeviceRows, collection_ids: list[str], site_code: str) -> None:
    """Set the device's `v_FullCollectionMembership` rows for `collection_ids`."""
    name, rid = device.system["Name0"], device.resource_id
    is_client = 1 if device.has_agent else 0
    device.memberships = [
        {
            "CollectionID": c,
            "ResourceID": rid,
            "Name": name,
            "SiteCode": site_code,
            "IsClient": is_client,
        }
        for c in collection_ids
    ]
