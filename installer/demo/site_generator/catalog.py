"""Value tables for the site generator: what a real Contoso estate is made of.

Everything here is data: locations, departments, operating-system releases,
hardware models, agent versions, people, enrollment errors and the names of
the co-management pilot collections. Weights are relative shares within one
table. The workloads themselves are the catalog's (`workloads.catalog`).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from workloads.catalog import CO_MANAGEMENT_CONFIGURED, Workload

T = TypeVar("T")

BASE_RESOURCE_ID = 16777220  # the first ResourceID a primary site hands out
RESOURCE_TYPE_SYSTEM = 5

NETBIOS_DOMAIN = "CONTOSO"
DNS_DOMAIN = "corp.contoso.com"
DOMAIN_DN = "DC=corp,DC=contoso,DC=com"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

SITE_NAME = "Contoso Primary Site"
SITE_VERSION = "5.00.9128.1000"
SITE_BUILD = 9128
SITE_TYPE_PRIMARY = 2

AD_NEVER = datetime(1601, 1, 1)  # lastLogonTimestamp of a machine that never logged on


class Weighted(Generic[T]):
    """A table of values with relative weights, picked with one `random()` draw."""

    __slots__ = ("_cumulative", "_total", "values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values: tuple[T, ...] = tuple(value for value, _ in pairs)
        self._cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        """One value, chosen with probability proportional to its weight."""
        return self.values[bisect.bisect(self._cumulative, rng.random() * self._total)]


@dataclass(frozen=True, slots=True)
class Location:
    """An office: its name code, Active Directory site and OU."""

    code: str
    ad_site: str
    ou: str
    city: str


LOCATIONS: Weighted[Location] = Weighted(
    [
        (Location("LON", "London", "London", "London"), 35),
        (Location("NYC", "NewYork", "New York", "New York"), 30),
        (Location("FRA", "Frankfurt", "Frankfurt", "Frankfurt"), 20),
        (Location("SIN", "Singapore", "Singapore", "Singapore"), 15),
    ]
)


@dataclass(frozen=True, slots=True)
class Department:
    """A department: the code used in corporate machine names and its OU."""

    code: str
    name: str


DEPARTMENTS: Weighted[Department] = Weighted(
    [
        (Department("FIN", "Finance"), 15),
        (Department("HR", "HR"), 8),
        (Department("ENG", "Engineering"), 35),
        (Department("SAL", "Sales"), 25),
        (Department("IT", "IT"), 17),
    ]
)

SERVER_ROLES: Weighted[str] = Weighted(
    [
        ("APP", 25),
        ("SQL", 20),
        ("FS", 15),
        ("WEB", 15),
        ("DC", 8),
        ("RDS", 7),
        ("PRN", 5),
        ("EXC", 5),
    ]
)

# Sub-OUs whose names need DN escaping, keyed by the department they sit under.
ESCAPED_OUS: dict[str, str] = {"ENG": r"R\, D", "SAL": r"Sales \+ Marketing"}
# Nested OUs a reorganisation left behind; together they make a DN of 400+ characters.
LONG_OU_CHAIN: tuple[str, ...] = (
    "Kiosk and Shared Devices for Temporary Staff Onboarding Programme",
    "Project Phoenix Windows 11 Migration Wave 3 Staging Area",
    "Devices Pending Hardware Refresh Approval by Regional IT Operations",
    "Legacy Line of Business Application Compatibility Testing",
    "Managed by Regional Service Desk Europe Middle East and Africa",
)

OsFamily = Literal["windows10", "windows11", "server"]


@dataclass(frozen=True, slots=True)
class OsRelease:
    """One Windows release: family, build and the captions (editions) it ships as."""

    family: OsFamily
    build: int
    captions: Weighted[str]

    @property
    def version(self) -> str:
        """`Version0` and `Build01`: major.minor.build."""
        return f"10.0.{self.build}"


_WIN11_CAPTIONS = Weighted(
    [
        ("Microsoft Windows 11 Enterprise", 85),
        ("Microsoft Windows 11 Pro", 10),
        ("Microsoft Windows 11 Education", 5),
    ]
)
_WIN10_CAPTIONS = Weighted(
    [("Microsoft Windows 10 Enterprise", 90), ("Microsoft Windows 10 Pro", 10)]
)

WIN11_RELEASES: dict[int, OsRelease] = {
    b: OsRelease("windows11", b, _WIN11_CAPTIONS) for b in (26100, 22631, 22621)
}
WIN10_RELEASES: dict[int, OsRelease] = {
    19045: OsRelease("windows10", 19045, _WIN10_CAPTIONS),
    19044: OsRelease("windows10", 19044, _WIN10_CAPTIONS),
    17763: OsRelease(
        "windows10", 17763, Weighted([("Microsoft Windows 10 Enterprise LTSC 2019", 1)])
    ),
}
SERVER_RELEASES: dict[int, OsRelease] = {
    20348: OsRelease(
        "server",
        20348,
        Weighted(
            [
                ("Microsoft Windows Server 2022 Standard", 80),
                ("Microsoft Windows Server 2022 Datacenter", 20),
            ]
        ),
    ),
    17763: OsRelease(
        "server",
        17763,
        Weighted(
            [
                ("Microsoft Windows Server 2019 Standard", 85),
                ("Microsoft Windows Server 2019 Datacenter", 15),
            ]
        ),
    ),
    14393: OsRelease(
        "server",
        14393,
        Weighted([("Microsoft Windows Server 2016 Standard", 1)]),
    ),
}

# Windows 11 ~55% of clients, newest builds most common.
CLIENT_RELEASES: Weighted[OsRelease] = Weighted(
    [
        (WIN11_RELEASES[26100], 55 * 0.47),
        (WIN11_RELEASES[22631], 55 * 0.36),
        (WIN11_RELEASES[22621], 55 * 0.17),
        (WIN10_RELEASES[19045], 45 * 0.85),
        (WIN10_RELEASES[19044], 45 * 0.12),
        (WIN10_RELEASES[17763], 45 * 0.03),
    ]
)
SERVER_OS: Weighted[OsRelease] = Weighted(
    [(SERVER_RELEASES[20348], 50), (SERVER_RELEASES[17763], 35), (SERVER_RELEASES[14393], 15)]
)
# In-place upgrades `touch_site` applies: old build -> new build (feature updates).
UPGRADES: dict[int, OsRelease] = {
    22621: WIN11_RELEASES[22631],
    22631: WIN11_RELEASES[26100],
    19044: WIN10_RELEASES[19045],
    19045: WIN11_RELEASES[26100],
}

OS_NAME_WORKSTATION = "Microsoft Windows NT Workstation 10.0"
OS_NAME_SERVER = "Microsoft Windows NT Server 10.0"
OS_NAME_ADVANCED_SERVER = "Microsoft Windows NT Advanced Server 10.0"  # Datacenter editions

SerialStyle = Literal[
    "dell",
    "hp",
    "hpe",
    "lenovo_laptop",
    "lenovo_desktop",
    "surface",
    "vmware",
    "hyperv",
    "placeholder",
]
FormFactor = Literal["laptop", "desktop", "server"]


@dataclass(frozen=True, slots=True)
class Hardware:
    """A machine model as hardware inventory reports it."""

    manufacturer: str
    model: str
    serial_style: SerialStyle
    form: FormFactor
    virtual: bool = False


WORKSTATION_HARDWARE: Weighted[Hardware] = Weighted(
    [
        (Hardware("Dell Inc.", "Latitude 5440", "dell", "laptop"), 16),
        (Hardware("Dell Inc.", "Latitude 7440", "dell", "laptop"), 10),
        (Hardware("Dell Inc.", "OptiPlex 7010", "dell", "desktop"), 14),
        (Hardware("Dell Inc.", "Precision 3581", "dell", "laptop"), 4),
        (Hardware("HP", "HP EliteBook 840 14 inch G10 Notebook PC", "hp", "laptop"), 13),
        (Hardware("HP", "HP ProBook 450 15.6 inch G9 Notebook PC", "hp", "laptop"), 7),
        (Hardware("HP", "HP ProDesk 600 G6 Small Form Factor PC", "hp", "desktop"), 7),
        (Hardware("LENOVO", "21HD0051US", "lenovo_laptop", "laptop"), 12),  # ThinkPad T14 Gen 4
        (Hardware("LENOVO", "11DT0034US", "lenovo_desktop", "desktop"), 6),  # ThinkCentre M70q
        (Hardware("Microsoft Corporation", "Surface Laptop 5", "surface", "laptop"), 6),
    ]
)
SERVER_HARDWARE: Weighted[Hardware] = Weighted(
    [
        (Hardware("Dell Inc.", "PowerEdge R750", "dell", "server"), 55),
        (Hardware("HPE", "ProLiant DL380 Gen10", "hpe", "server"), 45),
    ]
)
VIRTUAL_HARDWARE: Weighted[Hardware] = Weighted(
    [
        (Hardware("VMware, Inc.", "VMware7,1", "vmware", "server", virtual=True), 60),
        (Hardware("Microsoft Corporation", "Virtual Machine", "hyperv", "server", True), 40),
    ]
)
# Whitebox boards whose firmware was never given a serial number.
WHITEBOX: Weighted[Hardware] = Weighted(
    [
        (
            Hardware("To Be Filled By O.E.M.", "To Be Filled By O.E.M.", "placeholder", "desktop"),
            40,
        ),
        (Hardware("System manufacturer", "System Product Name", "placeholder", "desktop"), 35),
        (Hardware("Default string", "Default string", "placeholder", "desktop"), 25),
    ]
)
# The serial each whitebox maker's firmware reports, shared by all its boards.
PLACEHOLDER_SERIAL_BY_MAKER: dict[str, str] = {
    "To Be Filled By O.E.M.": "To Be Filled By O.E.M.",
    "System manufacturer": "System Serial Number",
    "Default string": "Default string",
}
PLACEHOLDER_SERIALS = frozenset(PLACEHOLDER_SERIAL_BY_MAKER.values())

CLIENT_VERSIONS: Weighted[str] = Weighted(
    [("5.00.9128.1000", 50), ("5.00.9122.1000", 25), ("5.00.9106.1000", 15), ("5.00.9096.1000", 10)]
)
OLD_CLIENT_VERSIONS: Weighted[str] = Weighted(
    [("5.00.9096.1000", 40), ("5.00.9088.1000", 35), ("5.00.9078.1000", 25)]
)

# People's names; the odd ones (non-ASCII letters, apostrophes) are drawn at ODD_NAME_SHARE.
FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Susan", "Richard", "Jessica", "Thomas", "Sarah", "Daniel", "Karen",
    "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Priya", "Wei", "Hiroshi", "Aisha", "Lars",
    "Olga", "Mohammed", "Fatima", "Chen", "Ananya", "Kenji", "Sofia", "Lucas", "Emma", "Noah",
)  # fmt: skip
ODD_FIRST_NAMES: tuple[str, ...] = (
    "José", "Zoë", "Søren", "Renée", "François", "Björn", "Łukasz", "Siobhán", "Chloé", "Ömer",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
    "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green",
    "Patel", "Kumar", "Wang", "Tanaka", "Schmidt", "Fischer", "Novak", "Rossi", "Tan", "Lim",
)  # fmt: skip
ODD_LAST_NAMES: tuple[str, ...] = (
    "Müller", "Gößmann", "Kjær", "Wójcik", "Lefèvre", "Åström", "Núñez", "Øster",
    "O'Brien", "D'Angelo", "O'Neill",
)  # fmt: skip
ODD_NAME_SHARE = 0.05

# Letters NFKD does not decompose into ASCII, as admins usually transliterate them.
TRANSLITERATION = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ł": "l", "Ł": "L", "đ": "d"}
)

# (EnrollmentStatusCode as SQL int, EnrollmentErrorDetail) of failed MDM auto-enrollments.
ENROLLMENT_ERRORS: Weighted[tuple[int, str]] = Weighted(
    [
        (
            (
                0x8018002B - (1 << 32),
                "Auto MDM Enroll: Failed (Unknown Win32 Error code: 0x8018002b)",
            ),
            45,
        ),
        (
            (
                0x80180026 - (1 << 32),
                "Auto MDM Enroll: Failed (Unknown Win32 Error code: 0x80180026)",
            ),
            20,
        ),
        (
            (
                0x80192EE7 - (1 << 32),
                "Auto MDM Enroll: Failed (Unknown Win32 Error code: 0x80192ee7)",
            ),
            20,
        ),
        ((0x80180001 - (1 << 32), "MDM enrollment failed: the server responded with an error"), 15),
    ]
)


PILOT_COLLECTION_PREFIX = "Co-management Pilot - "


def pilot_collection_name(workload: Workload) -> str:
    """The name of the workload's pilot collection on this site: its display name in Title Case.

    Only each word's first letter is raised ("Office Click-to-Run Apps"), as
    admins name collections.
    """
    words = workload.display_name.split(" ")
    return PILOT_COLLECTION_PREFIX + " ".join(word[:1].upper() + word[1:] for word in words)


# Bits some agents report beyond the workloads' (field); valid, never rejected.
EXTRA_FLAG_BITS: tuple[int, ...] = (0x1000, 0x2000, 0x3000)
# (carrier bit, dependant bit), carriers first: read once, used for every device.
_CARRIED_BITS: tuple[tuple[int, int], ...] = tuple(
    (w.carrier.flag, w.flag) for w in Workload.in_dependency_order() if w.carrier is not None
)


def workload_flags(pilot_bits: int) -> int:
    """The MDMWorkloads value of a co-managed device in the pilots named by `pilot_bits`.

    Every workload's slider on the generated site is Pilot, so the cloud holds
    exactly the workloads whose pilot collection holds the device, plus what
    their carriers carry (Device configuration carries Resource access and
    Endpoint Protection).
    """
    flags = CO_MANAGEMENT_CONFIGURED | pilot_bits
    for carrier_bit, dependant_bit in _CARRIED_BITS:
        if flags & carrier_bit:
            flags |= dependant_bit
    return flags
