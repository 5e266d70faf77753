"""A lost enrollment answer, asked for again: the same certificate for the same key.

A connector whose enrollment answer never arrived (a reset, a crash before
it stored the certificate) retries with the key it generated first. The code
is spent by then; instead of refusing, the service answers with the
certificate it issued for that key, within `ENROLL_REPLAY` of the first use.
Anyone else, or later, gets the usual refusal: and only the holder of that
private key could use the certificate anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from cloud import pki
from cloud.contract.attach import EnrollRequest, EnrollResponse
from cloud.service.api import Call
from cloud.store import tenancy
from cloud.store.schema import connector_certificates, connectors, tenants

ENROLL_REPLAY = timedelta(minutes=15)


async def replayed_enrollment(
    call: Call, conn: sa.ext.asyncio.AsyncConnection, body: EnrollRequest, now: datetime
) -> EnrollResponse | None:
    """The answer of an enrollment made with this code and this same key, if recent; else None."""
    spent = await tenancy.spent_attach_code(conn, body.attach_code)
    if spent is None or spent["connector_id"] is None or now - spent["used_at"] > ENROLL_REPLAY:
        return None
    try:
        asked = pki.validate_csr(body.csr_pem.encode()).public_key()
    except pki.CsrRejected:
        return None
    row = (
        (
            await conn.execute(
                sa.select(connector_certificates, connectors.c.hierarchy_id)
                .join(
                    connectors,
                    sa.and_(
                        connectors.c.tenant_id == connector_certificates.c.tenant_id,
                        connectors.c.connector_id == connector_certificates.c.connector_id,
                    ),
                )
                .where(
                    connector_certificates.c.tenant_id == spent["tenant_id"],
                    connector_certificates.c.connector_id == spent["connector_id"],
                    connector_certificates.c.revoked_at.is_(None),
                )
                .order_by(connector_certificates.c.issued_at)
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["hierarchy_id"] != body.hierarchy_id:
        return None
    issued = pki.load_cert(row["certificate_pem"].encode())
    if pki.public_key_bytes(issued.public_key()) != pki.public_key_bytes(asked):
        return None
    tenant_ca_pem = (
        await conn.execute(
            sa.select(tenants.c.ca_cert_pem).where(tenants.c.tenant_id == spent["tenant_id"])
        )
    ).scalar_one()
    await tenancy.audit(
        conn,
        tenant_id=spent["tenant_id"],
        actor=f"connector:{spent['connector_id']}",
        action="connector.enroll_replayed",
        target=body.hierarchy_id,
        now=now,
        details={"codeId": spent["code_id"], "serial": row["serial"]},
    )
    return EnrollResponse(
        tenant_id=spent["tenant_id"],
        hierarchy_id=body.hierarchy_id,
        connector_id=spent["connector_id"],
        certificate_pem=row["certificate_pem"],
        ca_chain_pem=tenant_ca_pem + call.state.root_pem,
        not_after=row["not_after"].replace(tzinfo=UTC),
    )
