"""The co-management workloads and the two sides that may hold them: one home for every workload fact.

Each `Workload` member states, in one `WorkloadFacts`, everything cobridge
knows about that workload (DOMAIN.md "The seven workloads"):

- its Graph feature name, which is the member's value: the name the cloud
  device's `configurationManagerClientEnabledFeatures` uses; it is stable and
  is what stores and the wire carry;
- its bit in the site's CoManagementFlags integer;
- the name admins know from the console's co-management sliders;
- the short name admins type (CLI arguments, desired-state document keys);
- the workload that carries it and how (the dependency rule, DESIGN.md
  section 7: Device configuration carries Resource access and Endpoint
  Protection);
- whether it is retired in current releases.

Everything else is derived from these facts: the names `Workload.named`
accepts, `KNOWN_BITS`, each workload's dependants and the order the
dependency rule is applied in, the contract's feature booleans, the site
generator's pilot collections. Iteration order is DOMAIN.md's table order,
which is also ascending bit order.

`WorkloadCatalog` is the base any catalog is built on and `check_catalog`
proves one consistent (the product's is checked at import), so a test can
build another catalog, an eighth workload for instance, the way the product
builds its own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Self, TypeVar

from workloads.errors import InconsistentCatalog, UnknownWorkload

# Bit 1 of the flags integer: co-management is configured on the device.
CO_MANAGEMENT_CONFIGURED = 1
# The stores keep a workload's Graph feature name in 32-character columns.
FEATURE_NAME_MAX = 32


class Holder(StrEnum):
    """A side that can hold a workload for a device: the site or the cloud tenant."""

    CONFIGMGR = "configmgr"
    CLOUD = "cloud"

    @property
    def other(self) -> Holder:
        """The opposite side."""
        return Holder.CLOUD if self is Holder.CONFIGMGR else Holder.CONFIGMGR


class Carriage(StrEnum):
    """How a dependant follows the workload that carries it."""

    ALWAYS = "always"  # takes its carrier's holder, whatever its own slider says
    TO_CLOUD = "to_cloud"  # goes to the cloud with its carrier; else its own slider decides


@dataclass(frozen=True, slots=True)
class CarriedBy:
    """A dependant's tie to its carrier, named by the carrier's Graph feature name."""

    carrier: str
    carriage: Carriage


@dataclass(frozen=True, slots=True)
class WorkloadFacts:
    """What cobridge states about one workload (see the module docstring)."""

    feature_name: str
    flag: int
    display_name: str
    alias: str
    carried_by: CarriedBy | None = None
    retired: bool = False


class WorkloadCatalog(StrEnum):
    """The base of a workload catalog: an enum whose members are built from their facts.

    A member's value is its Graph feature name; every other fact is read
    from `facts`. Subclasses hold the members; `check_catalog` checks them.
    """

    facts: WorkloadFacts

    def __new__(cls, facts: WorkloadFacts) -> Self:
        """A member whose value is the Graph feature name of `facts`."""
        member = str.__new__(cls, facts.feature_name)
        member._value_ = facts.feature_name
        member.facts = facts
        return member

    @property
    def feature_name(self) -> str:
        """The Graph feature name (the enum value)."""
        return self.value

    @property
    def flag(self) -> int:
        """The workload's bit in the CoManagementFlags integer."""
        return self.facts.flag

    @property
    def display_name(self) -> str:
        """The name admins know from the console's co-management sliders."""
        return self.facts.display_name

    @property
    def alias(self) -> str:
        """The short name admins type, such as `device-configuration`."""
        return self.facts.alias

    @property
    def retired(self) -> bool:
        """Whether the workload is retired in current releases of the site."""
        return self.facts.retired

    @property
    def carrier(self) -> Self | None:
        """The workload that carries this one (the dependency rule), if any."""
        carried_by = self.facts.carried_by
        return None if carried_by is None else type(self)(carried_by.carrier)

    @property
    def carriage(self) -> Carriage | None:
        """How this workload follows its carrier; None when nothing carries it."""
        carried_by = self.facts.carried_by
        return None if carried_by is None else carried_by.carriage

    @property
    def dependants(self) -> tuple[Self, ...]:
        """The workloads this one carries, in catalog order."""
        return tuple(w for w in type(self) if w.carrier is self)

    @classmethod
    def names(cls) -> dict[str, Self]:
        """Every name admins may use for a workload: short names, then lower-case Graph names."""
        return {w.alias: w for w in cls} | {w.value.lower(): w for w in cls}

    @classmethod
    def named(cls, name: object) -> Self:
        """The workload `name` names (short or Graph feature name, any case), else UnknownWorkload.

        The one parser of workload names: the CLI's arguments and the
        desired-state document's keys both go through it.
        """
        if isinstance(name, cls):
            return name
        found = cls.names().get(str(name).strip().lower())
        if found is None:
            raise UnknownWorkload(name, [w.value for w in cls])
        return found

    @classmethod
    def in_dependency_order(cls) -> tuple[Self, ...]:
        """Every workload, carriers before the workloads they carry (each wave in catalog order)."""
        ordered: list[Self] = []
        pending = list(cls)
        while pending:
            ready = [w for w in pending if w.carrier is None or w.carrier in ordered]
            if not ready:
                cycle = ", ".join(w.value for w in pending)
                raise InconsistentCatalog(f"{cls.__name__}: the carriers of {cycle} form a cycle")
            ordered.extend(ready)
            pending = [w for w in pending if w not in ready]
        return tuple(ordered)


W = TypeVar("W", bound=WorkloadCatalog)

_FEATURE_NAME = re.compile(r"[a-z][a-zA-Z0-9]*")
_ALIAS = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def _repeated(values: Iterable[object]) -> list[object]:
    return [value for value, count in Counter(values).items() if count > 1]


def check_catalog(catalog: type[W]) -> type[W]:
    """`catalog`, once proven consistent; else InconsistentCatalog naming the problem.

    Checked: one member per Graph feature name (an enum would silently make
    a repeated value an alias); feature names that are camelCase identifiers
    the stores' columns can hold; short names in kebab case; each flag a
    single bit other than the configured bit; no bit, display name or name
    given twice; carriers that are workloads of the catalog, never the
    workload itself, and no cycle among them.
    """
    problems: list[str] = []
    members = list(catalog)
    feature_names = {w.value for w in members}
    if len(catalog.__members__) != len(members):
        problems.append("a Graph feature name is given to two members")
    for w in members:
        if not _FEATURE_NAME.fullmatch(w.value) or len(w.value) > FEATURE_NAME_MAX:
            problems.append(
                f"{w.value!r} is not a camelCase Graph feature name of at most "
                f"{FEATURE_NAME_MAX} characters"
            )
        if not _ALIAS.fullmatch(w.alias):
            problems.append(f"{w.value}: the short name {w.alias!r} is not kebab-case")
        if w.flag <= CO_MANAGEMENT_CONFIGURED or w.flag & (w.flag - 1):
            problems.append(f"{w.value}: flag {w.flag} is not a single bit above 1")
        carried_by = w.facts.carried_by
        if carried_by is not None and carried_by.carrier not in feature_names:
            problems.append(f"{w.value}: its carrier {carried_by.carrier!r} is no workload")
        elif carried_by is not None and carried_by.carrier == w.value:
            problems.append(f"{w.value} carries itself")
    # A workload may be named the same both ways (`printers`); no two may share a name.
    names = [name for w in members for name in {w.alias, w.value.lower()}]
    for label, values in (
        ("flag", [w.flag for w in members]),
        ("display name", [w.display_name for w in members]),
        ("name", names),
    ):
        problems.extend(f"the {label} {v!r} is given twice" for v in _repeated(values))
    if problems:
        raise InconsistentCatalog(f"{catalog.__name__}: " + "; ".join(problems))
    catalog.in_dependency_order()
    return catalog


@check_catalog
class Workload(WorkloadCatalog):
    """One co-management workload; the value is its Graph feature name."""

    COMPLIANCE = WorkloadFacts("compliancePolicy", 2, "Compliance policies", "compliance")
    RESOURCE_ACCESS = WorkloadFacts(
        "resourceAccess",
        4,
        "Resource access policies",
        "resource-access",
        carried_by=CarriedBy("deviceConfiguration", Carriage.ALWAYS),
        retired=True,
    )
    DEVICE_CONFIGURATION = WorkloadFacts(
        "deviceConfiguration", 8, "Device configuration", "device-configuration"
    )
    WINDOWS_UPDATE = WorkloadFacts(
        "windowsUpdateForBusiness", 16, "Windows Update policies", "windows-update"
    )
    ENDPOINT_PROTECTION = WorkloadFacts(
        "endpointProtection",
        32,
        "Endpoint Protection",
        "endpoint-protection",
        carried_by=CarriedBy("deviceConfiguration", Carriage.TO_CLOUD),
    )
    CLIENT_APPS = WorkloadFacts("modernApps", 64, "Client apps", "client-apps")
    OFFICE_APPS = WorkloadFacts("officeApps", 128, "Office Click-to-Run apps", "office-apps")


ALL_WORKLOADS: tuple[Workload, ...] = tuple(Workload)


def known_bits(catalog: Iterable[WorkloadCatalog]) -> int:
    """The configured bit plus every workload's bit of `catalog`."""
    return CO_MANAGEMENT_CONFIGURED | sum(w.flag for w in catalog)


# Every bit cobridge gives a meaning to; anything else in a flags integer is
# unknown (agents in the field report 0x1000 and 0x2000) and is ignored.
KNOWN_BITS = known_bits(ALL_WORKLOADS)


def with_dependants(workloads: Iterable[W]) -> list[W]:
    """`workloads`, then every workload they carry (and those carry) that is not among them."""
    result = list(workloads)
    for workload in result:  # grows while read: dependants of dependants follow too
        result.extend(d for d in workload.dependants if d not in result)
    return result
