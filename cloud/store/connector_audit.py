"""The connectors' audit logs as uploaded: the entries of each chain, and the keys that signed them.

Every statement is scoped by tenant and hierarchy. A hierarchy holds one
chain per genesis (`chain_id`, the entry hash of its entry 1; which one is
current: `cloud.store.connector_audit_chains`). Entries are only ever
inserted; the one change an entry ever sees is its `status` moving from
pending to verified (`promote`). A signer's record is inserted once (a key is the hierarchy's, whichever chain
it signed); its certificate is filled in if it arrived without one, and its
trust recorded. Which entries are stored, and with which verdict, is decided
by `cloud.service.connector_audit_intake`; this module only reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.audit_chain import SIGNER_CHANGED, AuditEntry, canonical_json
from cloud.store.device_view import aware_utc, naive_utc
from cloud.store.dialect import insert_for
from cloud.store.schema import connector_audit_chains as chains
from cloud.store.schema import connector_audit_entries as entries
from cloud.store.schema import connector_audit_signers as signers
from cloud.store.schema import tenants


@dataclass(frozen=True)
class StoredSigner:
    """A signing key as the tenant holds it (fits `cloud.contract.audit_verify.SignerInfo`)."""

    signer: str
    kind: str
    public_key_pem: str
    certificate_pem: str | None
    trusted_because: str | None
    received_at: datetime


@dataclass(frozen=True)
class Verdict:
    """The tenant's judgement of one entry: verified, pending or failed (with why)."""

    status: str
    problem_kind: str | None = None
    problem_message: str | None = None


def _of(table: sa.Table, tenant_id: str, hierarchy_id: str) -> list[sa.ColumnElement[bool]]:
    return [table.c.tenant_id == tenant_id, table.c.hierarchy_id == hierarchy_id]


async def held_hashes(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, chain_id: str, first: int, last: int
) -> dict[int, str]:
    """The entry hash of every held entry of the chain with a sequence in [first, last]."""
    stmt = sa.select(entries.c.seq, entries.c.entry_hash).where(
        *_of(entries, tenant_id, hierarchy_id),
        entries.c.chain_id == chain_id,
        entries.c.seq.between(first, last),
    )
    return {int(seq): h for seq, h in (await conn.execute(stmt)).all()}


async def held_signers(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> dict[str, StoredSigner]:
    """Every key the hierarchy's entries were signed with, by fingerprint."""
    rows = (
        await conn.execute(sa.select(signers).where(*_of(signers, tenant_id, hierarchy_id)))
    ).mappings()
    return {
        r["signer"]: StoredSigner(
            r["signer"],
            r["kind"],
            r["public_key_pem"],
            r["certificate_pem"],
            r["trusted_because"],
            aware_utc(r["received_at"]),  # type: ignore[arg-type]
        )
        for r in rows
    }


async def save_signer(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, signer: StoredSigner
) -> None:
    """Keep a new key; for a held one, fill in its certificate (and trust) if it had none."""
    stmt = insert_for(conn, signers).values(
        tenant_id=tenant_id,
        hierarchy_id=hierarchy_id,
        signer=signer.signer,
        kind=signer.kind,
        public_key_pem=signer.public_key_pem,
        certificate_pem=signer.certificate_pem,
        trusted_because=signer.trusted_because,
        received_at=naive_utc(signer.received_at),
    )
    await conn.execute(stmt.on_conflict_do_nothing())
    if signer.certificate_pem is not None:
        await conn.execute(
            signers.update()
            .where(
                *_of(signers, tenant_id, hierarchy_id),
                signers.c.signer == signer.signer,
                signers.c.certificate_pem.is_(None),
            )
            .values(
                certificate_pem=signer.certificate_pem,
                trusted_because=sa.func.coalesce(signers.c.trusted_because, signer.trusted_because),
            )
        )


async def trust_signer(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, signer: str, because: str
) -> None:
    """Record why a held key is trusted (a key already trusted keeps its first reason)."""
    await conn.execute(
        signers.update()
        .where(
            *_of(signers, tenant_id, hierarchy_id),
            signers.c.signer == signer,
            signers.c.trusted_because.is_(None),
        )
        .values(trusted_because=because[:255])
    )


async def insert_entries(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    chain_id: str,
    judged: Sequence[tuple[AuditEntry, Verdict]],
    now: datetime,
) -> None:
    """Store entries of a chain (the caller holds the hierarchy's lock, and checked they are new)."""
    if not judged:
        return
    rows = [
        {
            "tenant_id": tenant_id,
            "hierarchy_id": hierarchy_id,
            "chain_id": chain_id,
            "seq": e.seq,
            "at": naive_utc(e.at),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "details": canonical_json(e.details),
            "plan_hash": e.plan_hash,
            "prev_hash": e.prev_hash,
            "signer": e.signer,
            "entry_hash": e.entry_hash,
            "signature": e.signature,
            "status": v.status,
            "problem_kind": v.problem_kind,
            "problem_message": v.problem_message[:1000] if v.problem_message else None,
            "received_at": naive_utc(now),
        }
        for e, v in judged
    ]
    await conn.execute(entries.insert(), rows)
    last = judged[-1][0]
    await conn.execute(
        chains.update()
        .where(*_of(chains, tenant_id, hierarchy_id), chains.c.chain_id == chain_id)
        .values(head_seq=last.seq, head_hash=last.entry_hash, received_at=naive_utc(now))
    )


async def promote(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, trusted: Iterable[str]
) -> int:
    """Pending entries (of any chain) signed by now-trusted keys become verified; how many."""
    keys = list(trusted)
    if not keys:
        return 0
    result = await conn.execute(
        entries.update()
        .where(
            *_of(entries, tenant_id, hierarchy_id),
            entries.c.status == "pending",
            entries.c.signer.in_(keys),
        )
        .values(status="verified")
    )
    return int(result.rowcount or 0)


async def verified_signer_changes(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str
) -> list[tuple[int, str, Any]]:
    """(seq, signer, details) of every verified `audit.signer-changed` entry, of any chain."""
    stmt = (
        sa.select(entries.c.seq, entries.c.signer, entries.c.details)
        .where(
            *_of(entries, tenant_id, hierarchy_id),
            entries.c.action == SIGNER_CHANGED,
            entries.c.status == "verified",
        )
        .order_by(entries.c.seq)
    )
    return [(int(s), signer, d) for s, signer, d in (await conn.execute(stmt)).all()]


async def tenant_ca_pem(conn: AsyncConnection, tenant_id: str) -> str:
    """The tenant's CA certificate (PEM): what the tenant trusts audit signers through."""
    stmt = sa.select(tenants.c.ca_cert_pem).where(tenants.c.tenant_id == tenant_id)
    return str((await conn.execute(stmt)).scalar_one())
