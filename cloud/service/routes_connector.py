"""Connector API (mutual-TLS listener): enroll, renew, register, heartbeat, ingest.

A connector's certificate binds it to one tenant and one hierarchy; every
call is checked against that binding.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC

import sqlalchemy as sa

from cloud import pki
from cloud.contract.attach import (
    EnrollRequest,
    EnrollResponse,
    Heartbeat,
    HeartbeatAck,
    HierarchyOut,
    HierarchyRegistration,
    RenewRequest,
)
from cloud.contract.inventory import IngestAck, IngestBatch
from cloud.service.api import Api, Call
from cloud.service.enrollment_replay import replayed_enrollment
from cloud.service.errors import ApiError
from cloud.service.routes_attach import hierarchy_out
from cloud.service.routes_held_deletes import heartbeat_releases
from cloud.service.routes_quarantine import heartbeat_quarantine
from cloud.store import attach as attach_store
from cloud.store import tenancy
from cloud.store.attach import IssuedCertificate
from cloud.store.ingest import BatchConflict, apply_batch
from cloud.store.schema import tenants

api = Api()
CONNECTOR = {"auth": "connector", "listener": "connector", "tags": ("connector",)}


async def _issue(
    call: Call,
    conn: sa.ext.asyncio.AsyncConnection,
    csr_pem: str,
    tenant_id: str,
    hierarchy_id: str,
    connector_id: str,
) -> tuple[IssuedCertificate, str]:
    try:
        csr = pki.validate_csr(csr_pem.encode())
    except pki.CsrRejected as exc:
        raise ApiError(exc.code, exc.message, target="csrPem") from None
    row = (
        (await conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id)))
        .mappings()
        .one()
    )
    tenant_ca = pki.CertAndKey(
        cert=pki.load_cert(row["ca_cert_pem"].encode()),
        key=pki.load_key(
            call.state.box.open(row["ca_sealed_key"], purpose=f"tenant-ca:{tenant_id}")
        ),
    )
    cert = pki.issue_connector_certificate(
        tenant_ca,
        csr,
        tenant_id=tenant_id,
        hierarchy_id=hierarchy_id,
        connector_id=connector_id,
        now=call.state.clock(),
        days=call.state.settings.certificate_days,
    )
    identity = pki.connector_identity(cert)
    issued = IssuedCertificate(
        serial=identity.serial_hex,
        fingerprint=identity.fingerprint_sha256,
        certificate_pem=pki.to_pem(cert).decode(),
        not_after=identity.not_after.astimezone(UTC).replace(tzinfo=None),
    )
    chain = row["ca_cert_pem"] + call.state.root_pem
    return issued, chain


@api.route(
    "POST",
    "/connector/v1/enroll",
    auth="enroll",
    listener="connector",
    body=EnrollRequest,
    response=EnrollResponse,
    status=201,
    tags=("connector",),
)
async def enroll(call: Call) -> EnrollResponse:
    """Exchange a one-time attach code and a CSR for a client certificate."""
    body: EnrollRequest = call.body
    # Everything below is one transaction: a refused CSR leaves the code unused.
    connector_id = str(uuid.uuid4())
    now = call.state.clock()
    async with call.state.engine.begin() as conn:
        code = await tenancy.consume_attach_code(
            conn, body.attach_code, connector_id=connector_id, now=now
        )
        if code is None:
            replay = await replayed_enrollment(call, conn, body, now)
            if replay is not None:
                return replay
            raise ApiError(
                "attach_code_invalid", "the attach code is unknown, already used, or expired"
            )
        tenant_id = code["tenant_id"]
        if code["hierarchy_id"] and code["hierarchy_id"] != body.hierarchy_id:
            raise ApiError(
                "wrong_hierarchy", "this attach code is for another hierarchy", target="hierarchyId"
            )
        issued, chain = await _issue(
            call, conn, body.csr_pem, tenant_id, body.hierarchy_id, connector_id
        )
        await attach_store.record_enrollment(
            conn,
            tenant_id=tenant_id,
            connector_id=connector_id,
            hierarchy_id=body.hierarchy_id,
            version=body.connector_version,
            certificate=issued,
            now=now,
        )
        await tenancy.audit(
            conn,
            tenant_id=tenant_id,
            actor=f"connector:{connector_id}",
            action="connector.enroll",
            target=body.hierarchy_id,
            now=now,
            details={
                "codeId": code["code_id"],
                "serial": issued.serial,
                "siteCode": body.site_code,
            },
        )
    return EnrollResponse(
        tenant_id=tenant_id,
        hierarchy_id=body.hierarchy_id,
        connector_id=connector_id,
        certificate_pem=issued.certificate_pem,
        ca_chain_pem=chain,
        not_after=issued.not_after.replace(tzinfo=UTC),
    )


@api.route("POST", "/connector/v1/renew", body=RenewRequest, response=EnrollResponse, **CONNECTOR)
async def renew(call: Call) -> EnrollResponse:
    """Issue a new certificate to an authenticated connector (same identity, new validity)."""
    who = call.connector
    assert who is not None
    now = call.state.clock()
    async with call.state.engine.begin() as conn:
        issued, chain = await _issue(
            call, conn, call.body.csr_pem, who.tenant_id, who.hierarchy_id, who.connector_id
        )
        await attach_store.record_certificate(
            conn,
            tenant_id=who.tenant_id,
            connector_id=who.connector_id,
            certificate=issued,
            now=now,
        )
        await tenancy.audit(
            conn,
            tenant_id=who.tenant_id,
            actor=f"connector:{who.connector_id}",
            action="connector.renew",
            target=who.hierarchy_id,
            now=now,
            details={"serial": issued.serial, "previous": who.serial_hex},
        )
    return EnrollResponse(
        tenant_id=who.tenant_id,
        hierarchy_id=who.hierarchy_id,
        connector_id=who.connector_id,
        certificate_pem=issued.certificate_pem,
        ca_chain_pem=chain,
        not_after=issued.not_after.replace(tzinfo=UTC),
    )


def _own_hierarchy(call: Call, hierarchy_id: str) -> None:
    assert call.connector is not None
    if hierarchy_id != call.connector.hierarchy_id:
        raise ApiError(
            "wrong_hierarchy",
            f"this connector is enrolled for hierarchy {call.connector.hierarchy_id}, not {hierarchy_id}",
            target="hierarchyId",
        )


@api.route(
    "PUT", "/connector/v1/hierarchy", body=HierarchyRegistration, response=HierarchyOut, **CONNECTOR
)
async def register(call: Call) -> HierarchyOut:
    """Register (or refresh) the connector's hierarchy with the tenant."""
    body: HierarchyRegistration = call.body
    who = call.connector
    assert who is not None
    _own_hierarchy(call, body.hierarchy_id)
    async with call.state.engine.begin() as conn:
        await attach_store.register_hierarchy(
            conn,
            tenant_id=who.tenant_id,
            hierarchy_id=body.hierarchy_id,
            site_code=body.site_code,
            site_name=body.site_name,
            site_version=body.site_version,
            connector_id=who.connector_id,
            connector_version=body.connector_version,
            now=call.state.clock(),
        )
        rows = await attach_store.list_hierarchies(conn, who.tenant_id)
    return hierarchy_out(next(r for r in rows if r["hierarchy_id"] == body.hierarchy_id))


async def _registered(call: Call, conn: sa.ext.asyncio.AsyncConnection) -> sa.RowMapping:
    who = call.connector
    assert who is not None
    row = await attach_store.get_hierarchy(conn, who.tenant_id, who.hierarchy_id)
    if row is None:
        raise ApiError("not_found", "register the hierarchy first (PUT /connector/v1/hierarchy)")
    return row


@api.route("POST", "/connector/v1/heartbeat", body=Heartbeat, response=HeartbeatAck, **CONNECTOR)
async def heartbeat(call: Call) -> HeartbeatAck:
    """Record a sign of life, status, held deletes and quarantine; answer with clock, progress, releases."""
    body: Heartbeat = call.body
    who = call.connector
    assert who is not None
    now = call.state.clock()
    async with call.state.engine.begin() as conn:
        row = await _registered(call, conn)
        await attach_store.record_heartbeat(
            conn,
            tenant_id=who.tenant_id,
            hierarchy_id=who.hierarchy_id,
            connector_version=body.connector_version,
            status=body.status.model_dump(mode="json", by_alias=True, exclude_none=True),
            now=now,
        )
        releases = await heartbeat_releases(conn, who, body, now)
        quarantine_digest = await heartbeat_quarantine(conn, who, body, now)
        await attach_store.touch_connector(conn, who.tenant_id, who.connector_id, now)
    return HeartbeatAck(
        server_time=now.replace(tzinfo=UTC),
        last_applied_sequence=row["last_applied_sequence"],
        detached=row["detached_at"] is not None,
        delete_releases=releases,
        quarantine_digest=quarantine_digest,
    )


@api.route("POST", "/connector/v1/ingest", body=IngestBatch, response=IngestAck, **CONNECTOR)
async def ingest(call: Call) -> IngestAck:
    """Apply a batch of upserts and tombstones: idempotent by batch id, all-or-nothing."""
    batch: IngestBatch = call.body
    who = call.connector
    assert who is not None
    _own_hierarchy(call, batch.hierarchy_id)
    digest = hashlib.sha256(batch.model_dump_json().encode()).hexdigest()
    metrics = call.state.metrics
    for attempt in range(2):
        try:
            async with call.state.engine.begin() as conn:
                row = await _registered(call, conn)
                if row["detached_at"] is not None:
                    raise ApiError(
                        "hierarchy_detached",
                        "this hierarchy was detached; enroll again to re-attach",
                    )
                ack = await apply_batch(
                    conn, who.tenant_id, batch, digest=digest, now=call.state.clock()
                )
            break
        except BatchConflict as exc:
            metrics.batches.labels("conflict").inc()
            raise ApiError("batch_conflict", exc.message) from None
        except sa.exc.IntegrityError:
            # The same batch committed concurrently by another request: the
            # second attempt finds it and answers as a replay.
            if attempt:
                raise
    metrics.batches.labels("replayed" if ack.replayed else "applied").inc()
    if not ack.replayed:
        metrics.ingested.labels("upsert").inc(ack.upserted)
        metrics.ingested.labels("tombstone").inc(ack.tombstoned)
    return ack
