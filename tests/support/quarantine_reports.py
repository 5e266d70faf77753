"""Helpers of the quarantine tests: refused records and reports whose digest matches."""

from __future__ import annotations

from datetime import UTC, datetime

from cloud.contract.quarantine import QuarantinedRecord, QuarantineReport, quarantine_digest

SEEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
FIRST_RESOURCE_ID = 16777216


def refused(n: int, reason: str = "invalid_guid", *, minutes: int = 0) -> QuarantinedRecord:
    """A refused site record named by ResourceID `FIRST_RESOURCE_ID + n`, first seen at SEEN+minutes."""
    return QuarantinedRecord(
        source="site",
        key=f"rid:{FIRST_RESOURCE_ID + n}",
        reason=reason,
        column="SMS_Unique_Identifier0",
        detail="not a GUID: 'GUID:1234'",
        resource_id=FIRST_RESOURCE_ID + n,
        smsid="GUID:1234",
        name=f"WKS{n:05d} \u00e9t\u00e9",
        first_seen=SEEN.replace(minute=minutes % 60, hour=9 + minutes // 60),
    )


def report(records: list[QuarantinedRecord], counts: dict[str, int]) -> QuarantineReport:
    """A report of `records` with `counts`, its digest computed."""
    return QuarantineReport(
        digest=quarantine_digest(counts, records), counts=counts, records=records
    )
