"""Reading the connectors' audit logs: a chain's status, pages newest first, the list of chains.

A chain's status comes from its head and two aggregates over the entries'
verdicts (the first failed entry, the pending ones), served by the
(tenant, hierarchy, status, seq) index; paging is by sequence, so an entry
uploaded while an admin reads never shifts a page.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.audit_chain import load_certificates
from cloud.contract.connector_audit import (
    AuditChainStatus,
    AuditProblem,
    AuditSignerOut,
    ConnectorAuditEntryOut,
    ConnectorAuditLogOut,
    ConnectorAuditQuery,
)
from cloud.store.device_view import aware_utc
from cloud.store.schema import connector_audit_chains as chains
from cloud.store.schema import connector_audit_entries as entries
from cloud.store.schema import connector_audit_signers as signers


def _of(table: sa.Table, tenant_id: str, hierarchy_id: str) -> list[sa.ColumnElement[bool]]:
    return [table.c.tenant_id == tenant_id, table.c.hierarchy_id == hierarchy_id]


def _problem(row: Any) -> AuditProblem | None:
    if row is None or row.problem_kind is None:
        return None
    return AuditProblem(seq=row.seq, kind=row.problem_kind, message=row.problem_message or "")


async def chain_status(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> AuditChainStatus:
    """What the tenant holds of the hierarchy's chain, and how far it is verified."""
    head = (
        await conn.execute(sa.select(chains).where(*_of(chains, tenant_id, hierarchy_id)))
    ).first()
    if head is None or head.head_seq == 0:
        return AuditChainStatus(
            state="empty",
            entries=0,
            head_seq=None,
            head_hash=None,
            verified_through_seq=0,
            pending_entries=0,
            problem=None,
            received_at=None,
        )
    scope = _of(entries, tenant_id, hierarchy_id)
    failed = (
        await conn.execute(
            sa.select(entries.c.seq, entries.c.problem_kind, entries.c.problem_message)
            .where(*scope, entries.c.status == "failed")
            .order_by(entries.c.seq)
            .limit(1)
        )
    ).first()
    pending = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.min(entries.c.seq)).where(
                *scope, entries.c.status == "pending"
            )
        )
    ).one()
    count = (await conn.execute(sa.select(sa.func.count()).where(*scope))).scalar_one()
    stops = [s for s in (failed.seq if failed else None, pending[1]) if s is not None]
    through = min(stops) - 1 if stops else int(head.head_seq)
    state = "failed" if failed else "pending" if pending[0] else "verified"
    return AuditChainStatus(
        state=state,
        entries=int(count),
        head_seq=int(head.head_seq),
        head_hash=head.head_hash,
        verified_through_seq=through,
        pending_entries=int(pending[0]),
        problem=_problem(failed),
        received_at=aware_utc(head.received_at),
    )


def _subject(certificate_pem: str | None) -> str | None:
    chain = load_certificates(certificate_pem) if certificate_pem else []
    return chain[0].subject.rfc4514_string() if chain else None


async def signer_summaries(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> list[AuditSignerOut]:
    """The keys that signed the hierarchy's entries, oldest first, with their counts and trust."""
    counts = dict(
        (
            await conn.execute(
                sa.select(entries.c.signer, sa.func.count())
                .where(*_of(entries, tenant_id, hierarchy_id))
                .group_by(entries.c.signer)
            )
        ).all()
    )
    rows = (
        await conn.execute(
            sa.select(signers)
            .where(*_of(signers, tenant_id, hierarchy_id))
            .order_by(signers.c.received_at, signers.c.signer)
        )
    ).all()
    return [
        AuditSignerOut(
            signer=r.signer,
            kind=r.kind,
            entries=int(counts.get(r.signer, 0)),
            trusted_because=r.trusted_because,
            certificate_subject=_subject(r.certificate_pem),
            received_at=aware_utc(r.received_at),  # type: ignore[arg-type]
        )
        for r in rows
    ]


def _details(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text}
    return value if isinstance(value, dict) else {"unreadable": text}


async def read_page(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, query: ConnectorAuditQuery
) -> ConnectorAuditLogOut:
    """One page of the chain, newest first, with its status and signers."""
    stmt = sa.select(entries).where(*_of(entries, tenant_id, hierarchy_id))
    if query.before is not None:
        stmt = stmt.where(entries.c.seq < query.before)
    stmt = stmt.order_by(entries.c.seq.desc()).limit(query.top + 1)
    rows = (await conn.execute(stmt)).all()
    following = rows[query.top - 1].seq if len(rows) > query.top else None
    value = [
        ConnectorAuditEntryOut(
            seq=r.seq,
            at=aware_utc(r.at),  # type: ignore[arg-type]
            actor=r.actor,
            action=r.action,
            target=r.target,
            details=_details(r.details),
            plan_hash=r.plan_hash,
            prev_hash=r.prev_hash,
            signer=r.signer,
            entry_hash=r.entry_hash,
            signature=r.signature,
            status=r.status,
            problem=_problem(r),
            received_at=aware_utc(r.received_at),  # type: ignore[arg-type]
        )
        for r in rows[: query.top]
    ]
    return ConnectorAuditLogOut(
        chain=await chain_status(conn, tenant_id, hierarchy_id),
        signers=await signer_summaries(conn, tenant_id, hierarchy_id),
        value=value,
        next_before=following,
    )


async def chains_of(conn: AsyncConnection, tenant_id: str) -> list[tuple[str, AuditChainStatus]]:
    """Every hierarchy of the tenant that uploaded an audit log, with its chain's status."""
    stmt = (
        sa.select(chains.c.hierarchy_id)
        .where(chains.c.tenant_id == tenant_id, chains.c.head_seq > 0)
        .order_by(chains.c.hierarchy_id)
    )
    found = list((await conn.execute(stmt)).scalars())
    return [(h, await chain_status(conn, tenant_id, h)) for h in found]
