"""The connector's quarantine as a heartbeat reports it: counts per reason, newest records.

Sent only when it differs from the report the tenant holds (the heartbeat
answer names that report's digest), so an unchanged quarantine costs one
digest comparison per heartbeat, not a thousand records on the wire.
"""

from __future__ import annotations

import re

from bridge.state.ports import WithQuarantine
from bridge.state.quarantine import QuarantineEntry
from cloud.contract.quarantine import (
    MAX_QUARANTINE_RECORDS,
    QuarantinedRecord,
    QuarantineReport,
    quarantine_digest,
)

_NOT_A_CODE = re.compile(r"[^a-z0-9_]+")


def _code(text: str, fallback: str) -> str:
    """A stable lower-case code (the wire's pattern), whatever a source called it."""
    code = _NOT_A_CODE.sub("_", text.lower()).strip("_")[:64]
    return code if code and code[0].isalpha() else fallback


def _record(entry: QuarantineEntry) -> QuarantinedRecord:
    return QuarantinedRecord(
        source=_code(entry.source, "unknown")[:32],
        key=entry.key[:200],
        reason=_code(entry.reason, "unknown"),
        column=entry.column[:128],
        detail=entry.detail[:4000],
        resource_id=entry.resource_id,
        smsid=entry.smsid,
        name=entry.name,
        first_seen=entry.first_seen,
    )


def quarantine_report(state: WithQuarantine) -> QuarantineReport:
    """Every reason's count and the newest records, with the digest the tenant compares."""
    counts: dict[str, int] = {}
    for reason, n in state.quarantine.counts().items():
        code = _code(reason, "unknown")
        counts[code] = counts.get(code, 0) + n
    records = [_record(e) for e in state.quarantine.entries(limit=MAX_QUARANTINE_RECORDS)]
    return QuarantineReport(
        digest=quarantine_digest(counts, records), counts=counts, records=records
    )
