"""The real cloud service over real HTTPS, in the test's event loop, for API tests.

`service_fixture` starts both listeners on ephemeral loopback ports over the
store of `store_urls` (SQLite and PostgreSQL) and yields a `RunningService`
with helpers to create tenants, admins and tokens, and aiohttp sessions that
trust the service root.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.contract import tls
from cloud.contract.admin import Role
from cloud.pki import x509
from cloud.server.app import running
from cloud.service import bootstrap
from cloud.service.settings import CloudSettings
from cloud.service.state import ServiceState, open_state, utc_now


@dataclass
class Clock:
    """A settable clock for the service (naive UTC)."""

    offset_now: datetime | None = None

    def __call__(self) -> datetime:
        return self.offset_now or utc_now()


@dataclass
class RunningService:
    """A started service and ways to talk to it."""

    state: ServiceState
    api_url: str
    connector_url: str
    clock: Clock
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def root_pem(self) -> bytes:
        """The service root CA."""
        return self.state.root.cert_pem

    def trust(self) -> ssl.SSLContext:
        """A client TLS context trusting the service root, without a client certificate."""
        return tls.client_context(self.root_pem)

    def session(
        self, *, token: str | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> aiohttp.ClientSession:
        """An HTTP session (closed by the fixture) with an optional bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        session = aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(ssl=ssl_context or self.trust())
        )
        self.sessions.append(session)
        return session

    async def tenant_with_admin(self, name: str, role: Role = Role.ADMIN) -> tuple[str, str]:
        """A new tenant with one principal of `role`; (tenant_id, token)."""
        tenant_id = await bootstrap.create_tenant(self.state, name)
        await bootstrap.create_admin(self.state, tenant_id, f"{name}-{role.value}", role)
        _, token = await bootstrap.create_token(self.state, tenant_id, f"{name}-{role.value}", 30)
        return tenant_id, token

    async def token_for(self, tenant_id: str, name: str, role: Role) -> str:
        """Another principal of the tenant, and a token for it."""
        await bootstrap.create_admin(self.state, tenant_id, name, role)
        return (await bootstrap.create_token(self.state, tenant_id, name, 30))[1]


def new_key_and_csr(common_name: str = "connector") -> tuple[bytes, str]:
    """A connector's EC P-256 key (PEM) and a CSR for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


async def start_service(
    store: tuple[sa.URL, sa.URL], data_dir: Path, **overrides: object
) -> AsyncIterator[RunningService]:
    """Run the service until the generator is closed."""
    clock = Clock()
    settings = CloudSettings(
        data_dir=data_dir,
        db=store[0].render_as_string(hide_password=False),
        port=0,
        connector_port=0,
        **overrides,  # type: ignore[arg-type]
    )
    state = open_state(settings, clock=clock)
    async with running(state, purge_every=3600) as (api_port, connector_port):
        service = RunningService(
            state, f"https://127.0.0.1:{api_port}", f"https://127.0.0.1:{connector_port}", clock
        )
        try:
            yield service
        finally:
            for session in service.sessions:
                await session.close()
