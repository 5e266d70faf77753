"""Quarantine on the wire: the records a connector refused, with their reasons.

The connector quarantines records that fail validation or identity
resolution (DESIGN.md section 6) and keeps syncing the rest. It reports its
quarantine with a heartbeat, only when it changed: the answer carries the
digest of the report the tenant holds, and the connector sends a new one when
its own digest differs. A report names every reason's full count and the
newest `MAX_QUARANTINE_RECORDS` records, so it stays a bounded summary however
much a site gets wrong.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import Field, model_validator

from cloud.contract.naming import CamelModel, CamelResponse

MAX_QUARANTINE_RECORDS = 1000
REASON = r"^[a-z][a-z0-9_]{0,63}$"


class QuarantinedRecord(CamelModel):
    """One refused record: where it came from, which key names it, and why.

    The identifying fields are as the source gave them (cleaned of control
    characters): a refused record may be refused for exactly these values,
    so they carry no pattern.
    """

    source: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    key: str = Field(min_length=1, max_length=200)
    reason: str = Field(pattern=REASON)
    column: str = Field(default="", max_length=128)
    detail: str = Field(default="", max_length=4000)
    resource_id: int | None = None
    smsid: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=255)
    first_seen: datetime


class QuarantineReport(CamelModel):
    """A connector's whole quarantine: counts per reason and the newest records.

    `digest` is `quarantine_digest(counts, records)`; the service keeps it and
    answers it in each heartbeat, so the connector sends a report only when
    its quarantine changed.
    """

    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    counts: dict[str, int] = Field(default_factory=dict, max_length=256)
    records: list[QuarantinedRecord] = Field(
        default_factory=list, max_length=MAX_QUARANTINE_RECORDS
    )

    @model_validator(mode="after")
    def _digest_matches(self) -> QuarantineReport:
        if self.digest != quarantine_digest(self.counts, self.records):
            raise ValueError("digest does not match the report's counts and records")
        if any(n < 0 for n in self.counts.values()):
            raise ValueError("counts must not be negative")
        return self

    @property
    def total(self) -> int:
        """How many records are quarantined in all (the records list may show fewer)."""
        return sum(self.counts.values())


def quarantine_digest(counts: dict[str, int], records: list[QuarantinedRecord]) -> str:
    """A stable digest of a quarantine: equal content, equal digest, whatever the order."""
    body = {
        "counts": sorted(counts.items()),
        "records": sorted(json.dumps(r.wire(), sort_keys=True) for r in records),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class QuarantineOut(CamelResponse):
    """A hierarchy's quarantine as the connector last reported it.

    `counts` and `total` cover every quarantined record; `value` is the page
    of the reported records asked for (newest first), `matched` how many of
    the reported records match the filter. `reported_at` None: never reported.
    """

    value: list[QuarantinedRecord]
    counts: dict[str, int]
    total: int
    matched: int
    reported_at: datetime | None


class QuarantineQuery(CamelModel):
    """Paging and the reason filter of a hierarchy's quarantine list."""

    reason: str | None = Field(default=None, pattern=REASON)
    top: int = Field(default=100, ge=1, le=MAX_QUARANTINE_RECORDS, alias="$top")
    skip: int = Field(default=0, ge=0, le=MAX_QUARANTINE_RECORDS, alias="$skip")
