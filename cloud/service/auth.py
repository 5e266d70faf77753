"""Who is calling: admin principals by bearer token, connectors by client certificate, devices by secret.

A connector's TLS handshake proves only that its chain reaches the service
root. That the issuing CA is the one of the tenant named in the certificate,
and that the certificate is current and not revoked, is checked here against
the store on every request (no CRL to distribute, revocation is immediate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from aiohttp import web

from cloud import pki
from cloud.contract.admin import Role
from cloud.contract.tls import peer_certificate
from cloud.service.errors import ApiError
from cloud.store.attach import certificate_status
from cloud.store.authority_checkin import DeviceCredential, check_credential
from cloud.store.schema import tenants
from cloud.store.tenancy import Principal, check_token

if TYPE_CHECKING:
    from cloud.service.state import ServiceState

_BEARER = {"WWW-Authenticate": 'Bearer realm="cobridge"'}


async def authenticate_principal(
    request: web.Request, state: ServiceState, role: Role | None
) -> Principal:
    """The principal behind the bearer token, holding at least `role`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            "unauthenticated",
            "send an API token as 'Authorization: Bearer <token>'",
            headers=_BEARER,
        )
    async with state.engine.connect() as conn:
        checked = await check_token(conn, token.strip(), state.clock())
        await conn.commit()
    if checked.principal is None:
        message = (
            "the API token has expired"
            if checked.problem == "token_expired"
            else "the API token is not valid"
        )
        raise ApiError(checked.problem or "invalid_token", message, headers=_BEARER)
    if role is not None and checked.principal.role.rank < role.rank:
        raise ApiError(
            "forbidden", f"this needs the {role.value} role; you are {checked.principal.role.value}"
        )
    return checked.principal


def _bearer(request: web.Request, what: str) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            "unauthenticated", f"send {what} as 'Authorization: Bearer <{what}>'", headers=_BEARER
        )
    return token.strip()


async def authenticate_device(request: web.Request, state: ServiceState) -> DeviceCredential:
    """The device behind a check-in secret (an API token is not one, nor the other way round)."""
    secret = _bearer(request, "device secret")
    async with state.engine.connect() as conn:
        credential = await check_credential(conn, secret)
    if credential is None:
        raise ApiError("invalid_token", "the device secret is not valid", headers=_BEARER)
    return credential


async def _tenant_ca(state: ServiceState, tenant_id: str) -> pki.x509.Certificate | None:
    async with state.engine.connect() as conn:
        pem = (
            await conn.execute(
                sa.select(tenants.c.ca_cert_pem).where(tenants.c.tenant_id == tenant_id)
            )
        ).scalar()
    return pki.load_cert(pem.encode()) if pem else None


async def authenticate_connector(
    request: web.Request, state: ServiceState
) -> pki.ConnectorIdentity:
    """The enrolled connector behind the client certificate of this connection."""
    cert = peer_certificate(request.transport)
    if cert is None:
        raise ApiError(
            "certificate_required", "connector calls need the connector's client certificate"
        )
    try:
        identity = pki.connector_identity(cert)
        ca = await _tenant_ca(state, identity.tenant_id)
        if ca is None:
            raise ApiError("certificate_rejected", "the certificate names an unknown tenant")
        pki.verify_issued_by(cert, ca, now=state.clock())
    except pki.CertificateRejected as exc:
        raise ApiError(
            "certificate_rejected", f"the client certificate is not accepted: {exc.message}"
        ) from None
    async with state.engine.connect() as conn:
        status = await certificate_status(conn, identity.tenant_id, identity.serial_hex)
    if status is None or status["fingerprint"] != identity.fingerprint_sha256:
        raise ApiError("certificate_rejected", "the tenant did not issue this certificate")
    if status["revoked_at"] is not None or status["connector_revoked_at"] is not None:
        raise ApiError(
            "certificate_revoked", "this connector's certificate has been revoked; enroll again"
        )
    if state.limiter is not None:
        wait = state.limiter.acquire(identity.connector_id)
        if wait:
            raise ApiError(
                "rate_limited",
                f"too many requests from this connector; retry in {wait:.0f} s",
                headers={"Retry-After": f"{wait:.0f}"},
            )
    return identity
