"""Reading the connectors' audit logs: a chain's status, pages newest first, chains, refusals.

A chain's status comes from its head and two aggregates over the entries'
verdicts (the first failed entry, the pending ones), served by the
(tenant, hierarchy, chain, status, seq) index; paging is by sequence, so an
entry uploaded while an admin reads never shifts a page. A hierarchy's
chains are listed with the current one first, then those it superseded,
the most recently superseded first.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.audit_chain import load_certificates
from cloud.contract.connector_audit import (
    AuditChainStatus,
    AuditProblem,
    AuditRefusal,
    AuditSignerOut,
    ConnectorAuditEntryOut,
    ConnectorAuditLogOut,
    ConnectorAuditQuery,
)
from cloud.store.device_view import aware_utc
from cloud.store.schema import connector_audit_chains as chains
from cloud.store.schema import connector_audit_entries as entries
from cloud.store.schema import connector_audit_hierarchies as hierarchies
from cloud.store.schema import connector_audit_signers as signers

EMPTY = AuditChainStatus(
    chain_id=None,
    current=False,
    started_at=None,
    first_at=None,
    last_at=None,
    superseded_at=None,
    superseded_by=None,
    state="empty",
    entries=0,
    head_seq=None,
    head_hash=None,
    verified_through_seq=0,
    pending_entries=0,
    problem=None,
    received_at=None,
)


def _of(table: sa.Table, tenant_id: str, hierarchy_id: str) -> list[sa.ColumnElement[bool]]:
    return [table.c.tenant_id == tenant_id, table.c.hierarchy_id == hierarchy_id]


def _problem(row: Any) -> AuditProblem | None:
    if row is None or row.problem_kind is None:
        return None
    return AuditProblem(seq=row.seq, kind=row.problem_kind, message=row.problem_message or "")


async def current_chain(conn: AsyncConnection, tenant_id: str, hierarchy_id: str) -> str | None:
    """The id of the hierarchy's current chain, or None while it holds none."""
    stmt = sa.select(hierarchies.c.current_chain).where(*_of(hierarchies, tenant_id, hierarchy_id))
    return (await conn.execute(stmt)).scalar_one_or_none()


async def _status(conn: AsyncConnection, head: Any) -> AuditChainStatus:
    """The status of the chain whose row is `head`."""
    scope = [*_of(entries, head.tenant_id, head.hierarchy_id), entries.c.chain_id == head.chain_id]
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
    ends = dict(
        (
            await conn.execute(
                sa.select(entries.c.seq, entries.c.at).where(
                    *scope, entries.c.seq.in_([1, int(head.head_seq)])
                )
            )
        ).all()
    )
    stops = [s for s in (failed.seq if failed else None, pending[1]) if s is not None]
    through = min(stops) - 1 if stops else int(head.head_seq)
    state = "failed" if failed else "pending" if pending[0] else "verified"
    return AuditChainStatus(
        chain_id=head.chain_id,
        current=head.superseded_at is None,
        started_at=aware_utc(head.started_at),
        first_at=aware_utc(ends.get(1)),
        last_at=aware_utc(ends.get(int(head.head_seq))),
        superseded_at=aware_utc(head.superseded_at),
        superseded_by=head.superseded_by,
        state=state if head.head_seq else "empty",
        entries=int(count),
        head_seq=int(head.head_seq) or None,
        head_hash=head.head_hash if head.head_seq else None,
        verified_through_seq=through,
        pending_entries=int(pending[0]),
        problem=_problem(failed),
        received_at=aware_utc(head.received_at),
    )


async def chain_status(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, chain_id: str | None = None
) -> AuditChainStatus | None:
    """What the tenant holds of a chain (default: the current one), and how far it is verified.

    `EMPTY` when the hierarchy holds no chain yet; None when `chain_id`
    names no chain of the hierarchy.
    """
    wanted = chain_id or await current_chain(conn, tenant_id, hierarchy_id)
    if wanted is None:
        return EMPTY
    head = (
        await conn.execute(
            sa.select(chains).where(
                *_of(chains, tenant_id, hierarchy_id), chains.c.chain_id == wanted
            )
        )
    ).first()
    return None if head is None else await _status(conn, head)


async def chain_list(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> list[AuditChainStatus]:
    """Every chain of the hierarchy: the current one, then the superseded, latest first."""
    rows = (
        await conn.execute(sa.select(chains).where(*_of(chains, tenant_id, hierarchy_id)))
    ).all()
    # The current chain has no supersession time: it sorts as the latest.
    rows.sort(key=lambda r: (r.superseded_at or datetime.max, r.started_at), reverse=True)
    return [await _status(conn, r) for r in rows]


async def last_refusal(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> AuditRefusal | None:
    """The last upload of the hierarchy the tenant refused, or None."""
    row = (
        await conn.execute(sa.select(hierarchies).where(*_of(hierarchies, tenant_id, hierarchy_id)))
    ).first()
    if row is None or row.refused_at is None:
        return None
    return AuditRefusal(
        code=row.refused_code,
        message=row.refused_message or "",
        at=aware_utc(row.refused_at),  # type: ignore[arg-type]
        connector_id=row.refused_connector or "",
        chain_id=row.refused_chain,
        accepted_since=row.accepted_at is not None and row.accepted_at > row.refused_at,
    )


def _subject(certificate_pem: str | None) -> str | None:
    chain = load_certificates(certificate_pem) if certificate_pem else []
    return chain[0].subject.rfc4514_string() if chain else None


async def signer_summaries(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, chain_id: str | None
) -> list[AuditSignerOut]:
    """The hierarchy's keys, oldest first, with how many entries of the chain each signed."""
    counts = dict(
        (
            await conn.execute(
                sa.select(entries.c.signer, sa.func.count())
                .where(*_of(entries, tenant_id, hierarchy_id), entries.c.chain_id == chain_id)
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
) -> ConnectorAuditLogOut | None:
    """One page of a chain (`query.chain`, else the current one), newest first, with its status.

    None when `query.chain` names no chain of the hierarchy.
    """
    status = await chain_status(conn, tenant_id, hierarchy_id, query.chain)
    if status is None:
        return None
    stmt = sa.select(entries).where(
        *_of(entries, tenant_id, hierarchy_id), entries.c.chain_id == status.chain_id
    )
    if query.before is not None:
        stmt = stmt.where(entries.c.seq < query.before)
    stmt = stmt.order_by(entries.c.seq.desc()).limit(query.top + 1)
    rows = (await conn.execute(stmt)).all() if status.chain_id else []
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
        chain=status,
        chains=await chain_list(conn, tenant_id, hierarchy_id),
        last_refusal=await last_refusal(conn, tenant_id, hierarchy_id),
        signers=await signer_summaries(conn, tenant_id, hierarchy_id, status.chain_id),
        value=value,
        next_before=following,
    )


async def chains_of(conn: AsyncConnection, tenant_id: str) -> list[tuple[str, AuditChainStatus]]:
    """Every hierarchy of the tenant that uploaded an audit log, with its current chain's status."""
    stmt = (
        sa.select(chains)
        .join(
            hierarchies,
            sa.and_(
                hierarchies.c.tenant_id == chains.c.tenant_id,
                hierarchies.c.hierarchy_id == chains.c.hierarchy_id,
                hierarchies.c.current_chain == chains.c.chain_id,
            ),
        )
        .where(chains.c.tenant_id == tenant_id)
        .order_by(chains.c.hierarchy_id)
    )
    found = (await conn.execute(stmt)).all()
    return [(r.hierarchy_id, await _status(conn, r)) for r in found]
