"""Quarantine reports: what each hierarchy's connector refused, and why.

A report replaces the one before it, in the heartbeat's transaction: the
summary row (counts per reason, digest) and the records it lists. Reads are
always of one tenant's one hierarchy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.quarantine import QuarantinedRecord, QuarantineReport
from cloud.store.device_view import aware_utc, naive_utc
from cloud.store.dialect import insert_for
from cloud.store.schema import quarantine_reports, quarantined_records

_INSERT_CHUNK = 500


@dataclass(frozen=True)
class QuarantinePage:
    """One page of a hierarchy's reported records, with the report's summary."""

    records: list[QuarantinedRecord]
    counts: dict[str, int]
    total: int
    matched: int
    reported_at: datetime | None


def _of(table: sa.Table, tenant_id: str, hierarchy_id: str) -> list[sa.ColumnElement[bool]]:
    return [table.c.tenant_id == tenant_id, table.c.hierarchy_id == hierarchy_id]


async def save_report(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    report: QuarantineReport,
    now: datetime,
) -> None:
    """Replace the hierarchy's quarantine report with `report`."""
    summary = {
        "digest": report.digest,
        "counts": dict(sorted(report.counts.items())),
        "total": report.total,
        "reported_at": now,
    }
    stmt = insert_for(conn, quarantine_reports).values(
        tenant_id=tenant_id, hierarchy_id=hierarchy_id, **summary
    )
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["tenant_id", "hierarchy_id"], set_=summary)
    )
    await conn.execute(
        quarantined_records.delete().where(*_of(quarantined_records, tenant_id, hierarchy_id))
    )
    # One row per (source, key): a report repeating a key keeps its last entry.
    rows = {
        (r.source, r.key): {
            "tenant_id": tenant_id,
            "hierarchy_id": hierarchy_id,
            "source": r.source,
            "record_key": r.key,
            "reason": r.reason,
            "column_name": r.column,
            "detail": r.detail,
            "resource_id": r.resource_id,
            "smsid": r.smsid,
            "name": r.name,
            # A time without an offset is taken as UTC, as the wire's times are.
            "first_seen": naive_utc(aware_utc(r.first_seen) or r.first_seen),
        }
        for r in report.records
    }
    values = list(rows.values())
    for start in range(0, len(values), _INSERT_CHUNK):
        await conn.execute(quarantined_records.insert(), values[start : start + _INSERT_CHUNK])


async def held_digest(conn: AsyncConnection, tenant_id: str, hierarchy_id: str) -> str | None:
    """The digest of the report the tenant holds for the hierarchy, or None."""
    stmt = sa.select(quarantine_reports.c.digest).where(
        *_of(quarantine_reports, tenant_id, hierarchy_id)
    )
    return (await conn.execute(stmt)).scalar_one_or_none()


async def read_page(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    *,
    reason: str | None = None,
    skip: int = 0,
    top: int = 100,
) -> QuarantinePage:
    """The hierarchy's reported records (of one reason, or all), newest first, one page."""
    summary = (
        (
            await conn.execute(
                sa.select(quarantine_reports).where(
                    *_of(quarantine_reports, tenant_id, hierarchy_id)
                )
            )
        )
        .mappings()
        .first()
    )
    if summary is None:
        return QuarantinePage([], {}, 0, 0, None)
    where = _of(quarantined_records, tenant_id, hierarchy_id)
    if reason is not None:
        where.append(quarantined_records.c.reason == reason)
    matched = (
        await conn.execute(
            sa.select(sa.func.count()).select_from(quarantined_records).where(*where)
        )
    ).scalar_one()
    stmt = (
        sa.select(quarantined_records)
        .where(*where)
        .order_by(
            quarantined_records.c.first_seen.desc(),
            quarantined_records.c.source,
            quarantined_records.c.record_key,
        )
        .offset(skip)
        .limit(top)
    )
    records = [
        QuarantinedRecord(
            source=r["source"],
            key=r["record_key"],
            reason=r["reason"],
            column=r["column_name"],
            detail=r["detail"],
            resource_id=r["resource_id"],
            smsid=r["smsid"],
            name=r["name"],
            first_seen=aware_utc(r["first_seen"]),
        )
        for r in (await conn.execute(stmt)).mappings()
    ]
    return QuarantinePage(
        records=records,
        counts=dict(summary["counts"]),
        total=int(summary["total"]),
        matched=int(matched),
        reported_at=aware_utc(summary["reported_at"]),
    )
