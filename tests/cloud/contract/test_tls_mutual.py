"""Mutual TLS over real loopback sockets: aiohttp server and client with the cloud's contexts."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud.contract.tls import client_context, peer_certificate, server_context
from cloud.pki import (
    CertAndKey,
    connector_identity,
    create_service_root,
    create_tenant_ca,
    issue_connector_certificate,
    issue_server_certificate,
    key_to_pem,
    to_pem,
    validate_csr,
)

# TLS checks validity against the real clock, so this PKI is issued at the real now.
NOW = datetime.now(UTC)
TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True)
class Deployment:
    """A root, one tenant CA and a server certificate for localhost/127.0.0.1."""

    root: CertAndKey
    tenant: CertAndKey
    server: CertAndKey


@dataclass(frozen=True)
class Connector:
    """What a connector holds after enrollment: leaf + tenant CA chain, and its key."""

    chain_pem: bytes
    key_pem: bytes


@dataclass
class Server:
    """A running HTTPS listener and the identities its handler has seen."""

    url: str
    seen: list[dict | None] = field(default_factory=list)


def make_deployment() -> Deployment:
    root = create_service_root(NOW)
    return Deployment(
        root=root,
        tenant=create_tenant_ca(root, "tenant-a", NOW),
        server=issue_server_certificate(root, ["localhost"], ["127.0.0.1"], NOW),
    )


def enroll(tenant: CertAndKey, *, now: datetime = NOW, days: int = 90) -> Connector:
    key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "conn-1")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    cert = issue_connector_certificate(
        tenant,
        validate_csr(csr_pem),
        tenant_id="tenant-a",
        hierarchy_id="PS1",
        connector_id="conn-1",
        now=now,
        days=days,
    )
    return Connector(to_pem(cert) + to_pem(tenant.cert), key_to_pem(key))


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return make_deployment()


@pytest.fixture(scope="module")
def other_deployment() -> Deployment:
    return make_deployment()


@asynccontextmanager
async def serve(cert_pem: bytes, key_pem: bytes, client_ca_pem: bytes) -> AsyncIterator[Server]:
    """An aiohttp app on 127.0.0.1:<free port> whose handler reports the caller's identity."""
    server = Server(url="")

    async def whoami(request: web.Request) -> web.Response:
        cert = peer_certificate(request.transport)
        identity = None
        if cert is not None:
            found = connector_identity(cert)
            identity = {
                "tenant_id": found.tenant_id,
                "hierarchy_id": found.hierarchy_id,
                "connector_id": found.connector_id,
                "serial_hex": found.serial_hex,
            }
        server.seen.append(identity)
        return web.json_response({"identity": identity})

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    context = server_context(cert_pem, key_pem, client_ca_pem=client_ca_pem)
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    host, port = runner.addresses[0][:2]
    server.url = f"https://{host}:{port}/whoami"
    try:
        yield server
    finally:
        await runner.cleanup()


def serve_deployment(deployment: Deployment) -> AbstractAsyncContextManager[Server]:
    return serve(deployment.server.cert_pem, deployment.server.key_pem, deployment.root.cert_pem)


async def call(url: str, context: ssl.SSLContext, **kwargs: Any) -> dict:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(url, ssl=context, **kwargs) as response,
    ):
        response.raise_for_status()
        return await response.json()


def connector_context(deployment: Deployment, connector: Connector | None) -> ssl.SSLContext:
    if connector is None:
        return client_context(deployment.root.cert_pem)
    return client_context(deployment.root.cert_pem, connector.chain_pem, connector.key_pem)


@pytest.mark.asyncio
async def test_valid_connector_certificate_identifies_the_connector(
    deployment: Deployment,
) -> None:
    connector = enroll(deployment.tenant)
    async with serve_deployment(deployment) as server:
        body = await call(server.url, connector_context(deployment, connector))
    leaf = x509.load_pem_x509_certificate(connector.chain_pem)
    assert body["identity"] == {
        "tenant_id": "tenant-a",
        "hierarchy_id": "PS1",
        "connector_id": "conn-1",
        "serial_hex": f"{leaf.serial_number:032x}",
    }


@pytest.mark.asyncio
async def test_server_name_is_checked_by_the_client(deployment: Deployment) -> None:
    context = connector_context(deployment, enroll(deployment.tenant))
    async with serve_deployment(deployment) as server:
        body = await call(server.url, context, server_hostname="localhost")
        assert body["identity"]["connector_id"] == "conn-1"
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await call(server.url, context, server_hostname="cloud.example.com")


@pytest.mark.asyncio
async def test_no_client_certificate_reaches_the_handler_as_none(deployment: Deployment) -> None:
    async with serve_deployment(deployment) as server:
        body = await call(server.url, connector_context(deployment, None))
    assert body == {"identity": None}
    assert server.seen == [None]


@pytest.mark.asyncio
async def test_certificate_from_another_deployment_fails_the_handshake(
    deployment: Deployment, other_deployment: Deployment
) -> None:
    stranger = enroll(other_deployment.tenant)
    context = client_context(deployment.root.cert_pem, stranger.chain_pem, stranger.key_pem)
    async with serve_deployment(deployment) as server:
        with pytest.raises(aiohttp.ClientError):
            await call(server.url, context)
    assert server.seen == []


@pytest.mark.asyncio
async def test_expired_certificate_fails_the_handshake(deployment: Deployment) -> None:
    expired = enroll(deployment.tenant, now=NOW - timedelta(days=100), days=90)
    async with serve_deployment(deployment) as server:
        with pytest.raises(aiohttp.ClientError):
            await call(server.url, connector_context(deployment, expired))
    assert server.seen == []


@pytest.mark.asyncio
async def test_leaf_without_its_tenant_ca_fails_the_handshake(deployment: Deployment) -> None:
    connector = enroll(deployment.tenant)
    leaf_only = x509.load_pem_x509_certificate(connector.chain_pem)
    context = client_context(deployment.root.cert_pem, to_pem(leaf_only), connector.key_pem)
    async with serve_deployment(deployment) as server:
        with pytest.raises(aiohttp.ClientError):
            await call(server.url, context)
    assert server.seen == []


@pytest.mark.asyncio
async def test_server_certificate_cannot_be_used_as_a_client_certificate(
    deployment: Deployment,
) -> None:
    server_cert = deployment.server
    context = client_context(deployment.root.cert_pem, server_cert.cert_pem, server_cert.key_pem)
    async with serve_deployment(deployment) as server:
        with pytest.raises(aiohttp.ClientError):
            await call(server.url, context)
    assert server.seen == []


@pytest.mark.asyncio
async def test_client_refuses_a_server_it_does_not_trust(
    deployment: Deployment, other_deployment: Deployment
) -> None:
    connector = enroll(deployment.tenant)
    context = client_context(other_deployment.root.cert_pem, connector.chain_pem, connector.key_pem)
    async with serve_deployment(deployment) as server:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await call(server.url, context)
    assert server.seen == []


@pytest.mark.asyncio
async def test_tenant_ca_cannot_mint_a_server_certificate_connectors_accept(
    deployment: Deployment,
) -> None:
    """Tenant CAs carry EKU clientAuth, so a serverAuth leaf under one does not verify."""
    key = ec.generate_private_key(ec.SECP256R1())
    tenant = deployment.tenant
    ski = tenant.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    rogue = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(tenant.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(minutes=5))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(tenant.key, hashes.SHA256())
    )
    chain = to_pem(rogue) + tenant.cert_pem
    async with serve(chain, key_to_pem(key), deployment.root.cert_pem) as server:
        with pytest.raises(aiohttp.ClientConnectorCertificateError, match="purpose"):
            await call(server.url, connector_context(deployment, enroll(tenant)))
    assert server.seen == []
