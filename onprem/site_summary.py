"""A one-pass summary of a site's inventory: what an admin checks before attaching it.

Built from a full read, so it counts exactly what the connector would see,
rejects included, with memory bounded by distinct names and serials (held as
8-byte digests, not strings).
"""

from __future__ import annotations

import hashlib
from collections import Counter

from pydantic import BaseModel, ConfigDict

from onprem.site_reader import ReadScope, SiteReader
from onprem.site_records import RejectedRecord
from onprem.site_values import identifying_serial
from workloads.devices import os_family

_MAX_REJECTS_SHOWN = 20


class RejectSample(BaseModel):
    """One rejected record as shown to an admin."""

    model_config = ConfigDict(frozen=True)

    resource_id: int | None
    name: str | None
    reason: str
    column: str
    detail: str


class SiteSummary(BaseModel):
    """Counts over one complete read of a site."""

    site_code: str | None
    site_name: str | None
    site_version: str | None
    hierarchy_id: str | None
    instance_id: str
    rows: int
    records: int
    rejected: int
    rejects_by_reason: dict[str, int]
    reject_samples: list[RejectSample]
    live: int
    obsolete_or_decommissioned: int
    with_agent: int
    without_agent: int
    operating_systems: dict[str, int]
    co_managed: int
    empty_aad_device_id: int
    placeholder_serials: int
    duplicate_live_names: int
    shared_serials: int
    collections: int
    memberships: int


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def summarize_site(reader: SiteReader, scope: ReadScope | None = None) -> SiteSummary:
    """Read the whole site once and count what matters for attaching it."""
    read = reader.read(scope)
    oses: Counter[str] = Counter()
    names: Counter[bytes] = Counter()
    serials: Counter[bytes] = Counter()
    samples: list[RejectSample] = []
    counts = Counter[str]()
    for item in read:
        if isinstance(item, RejectedRecord):
            if len(samples) < _MAX_REJECTS_SHOWN:
                samples.append(
                    RejectSample(**item.model_dump(include=set(RejectSample.model_fields)))
                )
            continue
        counts["memberships"] += len(item.collections)
        if item.serial_number and identifying_serial(item.serial_number) is None:
            counts["placeholder_serials"] += 1
        if not item.live:
            counts["not_live"] += 1
            continue
        counts["live"] += 1
        counts["agent" if item.client else "no_agent"] += 1
        oses[os_family(item.os_name, item.os_build or item.os_version)] += 1
        if item.comanagement is not None and item.comanagement.co_managed:
            counts["co_managed"] += 1
        if item.aad_device_id is None:
            counts["empty_aad"] += 1
        names[_digest(item.name.casefold())] += 1
        serial = item.keys.serial_number
        if serial is not None:
            serials[_digest(serial)] += 1
    stats = read.stats
    identity = stats.identity
    assert identity is not None  # set by the read before the first row
    return SiteSummary(
        site_code=identity.site_code,
        site_name=identity.site_name,
        site_version=identity.version,
        hierarchy_id=identity.hierarchy_id,
        instance_id=identity.instance_id,
        rows=stats.rows,
        records=stats.records,
        rejected=stats.rejected,
        rejects_by_reason=dict(sorted(stats.rejects_by_reason.items())),
        reject_samples=samples,
        live=counts["live"],
        obsolete_or_decommissioned=counts["not_live"],
        with_agent=counts["agent"],
        without_agent=counts["no_agent"],
        operating_systems=dict(oses.most_common()),
        co_managed=counts["co_managed"],
        empty_aad_device_id=counts["empty_aad"],
        placeholder_serials=counts["placeholder_serials"],
        duplicate_live_names=sum(n for n in names.values() if n > 1),
        shared_serials=sum(n for n in serials.values() if n > 1),
        collections=len(reader.collections()),
        memberships=counts["memberships"],
    )
