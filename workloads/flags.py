"""The CoManagementFlags integer: encode the workloads the cloud holds, decode them back.

The integer is 1 (co-management configured) plus the bits of the workloads the
cloud holds: all on the site = 1, compliance and client apps on the cloud = 67,
everything on the cloud = 255. Agents in the field report extra high bits
(0x1000, 0x2000); decoding tests bits with `flags & bit` and ignores the rest,
never rejecting them. `unknown_bits` returns them for display.

The bits are the catalog's (`workloads.catalog`): `decode` and `unknown_bits`
read the product's unless given another catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import overload

from workloads.catalog import (
    ALL_WORKLOADS,
    CO_MANAGEMENT_CONFIGURED,
    KNOWN_BITS,
    W,
    Workload,
    WorkloadCatalog,
    known_bits,
)
from workloads.errors import InvalidFlags


def encode(cloud_held: Iterable[WorkloadCatalog]) -> int:
    """The flags integer of a co-managed device whose cloud holds `cloud_held`.

    The configured bit (1) is always set: a device only has co-management
    flags once co-management is configured on it.
    """
    flags = CO_MANAGEMENT_CONFIGURED
    for workload in cloud_held:
        flags |= (workload if isinstance(workload, WorkloadCatalog) else Workload(workload)).flag
    return flags


@overload
def decode(flags: int) -> frozenset[Workload]: ...
@overload
def decode(flags: int, catalog: type[W]) -> frozenset[W]: ...
def decode(flags: int, catalog: type[WorkloadCatalog] = Workload) -> frozenset[WorkloadCatalog]:
    """The workloads of `catalog` whose bits are set in `flags`; unknown bits are ignored."""
    _check(flags)
    workloads = ALL_WORKLOADS if catalog is Workload else tuple(catalog)
    return frozenset(workload for workload in workloads if flags & workload.flag)


def is_configured(flags: int) -> bool:
    """Whether the co-management-configured bit (1) is set."""
    _check(flags)
    return bool(flags & CO_MANAGEMENT_CONFIGURED)


def unknown_bits(flags: int, catalog: type[WorkloadCatalog] = Workload) -> int:
    """The bits of `flags` `catalog` gives no meaning to (for display, never an error)."""
    _check(flags)
    return flags & ~(KNOWN_BITS if catalog is Workload else known_bits(catalog))


def _check(flags: object) -> None:
    # bool is an int subclass; True is not a flags integer a site would report.
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise InvalidFlags(
            f"co-management flags must be an integer, not {type(flags).__name__} {flags!r}",
            hint="read the MDMWorkloads column as an integer",
        )
    if flags < 0:
        raise InvalidFlags(
            f"co-management flags must not be negative, got {flags}",
            hint="the site reports flags as a non-negative integer; check the value read",
        )
