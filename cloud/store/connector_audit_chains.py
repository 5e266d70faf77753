"""The chains of the connectors' audit logs: which one is current, supersession, refusals.

A hierarchy holds one chain per genesis (`chain_id`, the entry hash of its
entry 1). Its row in `connector_audit_hierarchies` names the current chain,
serialises the hierarchy's uploads (`lock_hierarchy`), and keeps when an
upload was last taken and the last refused one. A new chain supersedes the
current one, which stays stored, marked with when and by which chain.
Decisions are `cloud.service.connector_audit_intake`'s; this module reads
and writes. Every statement is scoped by tenant and hierarchy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.audit_chain import GENESIS
from cloud.store.device_view import aware_utc, naive_utc
from cloud.store.dialect import insert_for
from cloud.store.schema import connector_audit_chains as chains
from cloud.store.schema import connector_audit_hierarchies as hierarchies


@dataclass(frozen=True)
class ChainHead:
    """A held chain's head (GENESIS at 0 before its first entry); when, and by what, superseded."""

    seq: int
    head_hash: str
    superseded_at: datetime | None
    superseded_by: str | None


@dataclass(frozen=True)
class Refusal:
    """An upload the tenant refused: its stable code and message, when, from which connector."""

    code: str
    message: str
    at: datetime
    connector_id: str
    chain_id: str | None


def _of(table: sa.Table, tenant_id: str, hierarchy_id: str) -> list[sa.ColumnElement[bool]]:
    return [table.c.tenant_id == tenant_id, table.c.hierarchy_id == hierarchy_id]


def _chain(tenant_id: str, hierarchy_id: str, chain_id: str) -> list[sa.ColumnElement[bool]]:
    return [*_of(chains, tenant_id, hierarchy_id), chains.c.chain_id == chain_id]


async def lock_hierarchy(conn: AsyncConnection, tenant_id: str, hierarchy_id: str) -> str | None:
    """The hierarchy's current chain (None: none yet), locked until the transaction ends.

    The first statement writes (an insert that does nothing once the row
    exists), so on SQLite the transaction holds the write lock from here on
    and on PostgreSQL the row lock below serialises uploads of one hierarchy.
    """
    start = insert_for(conn, hierarchies).values(tenant_id=tenant_id, hierarchy_id=hierarchy_id)
    await conn.execute(start.on_conflict_do_nothing(index_elements=["tenant_id", "hierarchy_id"]))
    stmt = (
        sa.select(hierarchies.c.current_chain)
        .where(*_of(hierarchies, tenant_id, hierarchy_id))
        .with_for_update()
    )
    return (await conn.execute(stmt)).scalar_one()


async def chain_head(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, chain_id: str
) -> ChainHead | None:
    """The head of a held chain, or None when the hierarchy holds no chain of that id."""
    stmt = sa.select(
        chains.c.head_seq, chains.c.head_hash, chains.c.superseded_at, chains.c.superseded_by
    ).where(*_chain(tenant_id, hierarchy_id, chain_id))
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return ChainHead(
        int(row.head_seq), str(row.head_hash), aware_utc(row.superseded_at), row.superseded_by
    )


async def start_chain(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    chain_id: str,
    connector_id: str,
    now: datetime,
) -> str | None:
    """Make a new (empty) chain the hierarchy's current one; the chain it superseded, if any.

    The caller holds the hierarchy's lock (`lock_hierarchy`).
    """
    at = naive_utc(now)
    previous = (
        await conn.execute(
            sa.select(hierarchies.c.current_chain).where(*_of(hierarchies, tenant_id, hierarchy_id))
        )
    ).scalar_one()
    await conn.execute(
        chains.insert().values(
            tenant_id=tenant_id,
            hierarchy_id=hierarchy_id,
            chain_id=chain_id,
            head_seq=0,
            head_hash=GENESIS,
            started_at=at,
            started_by=connector_id,
            received_at=at,
        )
    )
    if previous is not None:
        await conn.execute(
            chains.update()
            .where(*_chain(tenant_id, hierarchy_id, previous), chains.c.superseded_at.is_(None))
            .values(superseded_at=at, superseded_by=chain_id)
        )
    await conn.execute(
        hierarchies.update()
        .where(*_of(hierarchies, tenant_id, hierarchy_id))
        .values(current_chain=chain_id)
    )
    return previous


async def accepted(conn: AsyncConnection, tenant_id: str, hierarchy_id: str, now: datetime) -> None:
    """Record that an upload of the hierarchy was taken now (under the hierarchy's lock)."""
    await conn.execute(
        hierarchies.update()
        .where(*_of(hierarchies, tenant_id, hierarchy_id))
        .values(accepted_at=naive_utc(now))
    )


async def record_refusal(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, refusal: Refusal
) -> None:
    """Keep `refusal` as the hierarchy's last refused upload (in a transaction of its own)."""
    values: dict[str, Any] = {
        "refused_code": refusal.code[:64],
        "refused_message": refusal.message[:1000],
        "refused_at": naive_utc(refusal.at),
        "refused_connector": refusal.connector_id[:36],
        "refused_chain": refusal.chain_id,
    }
    stmt = insert_for(conn, hierarchies).values(
        tenant_id=tenant_id, hierarchy_id=hierarchy_id, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["tenant_id", "hierarchy_id"], set_=values)
    )
