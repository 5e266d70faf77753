"""The connector's enrolled identity: its key, its certificate, and how it gets them.

The key never leaves the host: the connector makes an EC P-256 key and a CSR,
spends the one-time attach code for a certificate signed by the tenant's CA,
and keeps both in its data directory, readable by its own user only (0600).
Renewal sends a CSR for a new key over the current certificate when a third
of the validity is left.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridge.tenant.connector import ConnectorClient
from cloud.contract.attach import EnrollResponse
from workloads.errors import CobridgeError

KEY_FILE = "connector.key"
CERT_FILE = "connector.pem"
INFO_FILE = "enrollment.json"
PENDING_KEY_FILE = "connector.key.pending"
RENEW_WHEN_LEFT = 1 / 3


class EnrollmentError(CobridgeError):
    """The connector has no usable identity and cannot get one."""

    code = "enrollment_failed"


@dataclass(frozen=True)
class ConnectorIdentity:
    """The enrolled identity as stored in the data directory."""

    tenant_id: str
    hierarchy_id: str
    connector_id: str
    chain_pem: bytes  # leaf, then the tenant CA
    key_pem: bytes
    not_before: datetime
    not_after: datetime

    def due_for_renewal(self, now: datetime) -> bool:
        """Whether less than a third of the certificate's validity is left."""
        lifetime = self.not_after - self.not_before
        return self.not_after - now < lifetime * RENEW_WHEN_LEFT


def _write_private(path: Path, data: bytes) -> None:
    # Written beside, then renamed: a crash never leaves a half-written key.
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def new_key_and_csr(hierarchy_id: str) -> tuple[bytes, str]:
    """A fresh EC P-256 key (PKCS#8 PEM) and a CSR for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr_for(key_pem, hierarchy_id)


def csr_for(key_pem: bytes, hierarchy_id: str) -> str:
    """A CSR (PEM) for the key in `key_pem`."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hierarchy_id[:64])]))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def load_identity(data_dir: Path) -> ConnectorIdentity | None:
    """The stored identity, or None before enrollment."""
    key_path, cert_path, info_path = (data_dir / n for n in (KEY_FILE, CERT_FILE, INFO_FILE))
    if not (key_path.exists() and cert_path.exists() and info_path.exists()):
        return None
    try:
        info = json.loads(info_path.read_text())
        chain = cert_path.read_bytes()
        leaf = x509.load_pem_x509_certificate(chain)
        return ConnectorIdentity(
            tenant_id=info["tenant_id"],
            hierarchy_id=info["hierarchy_id"],
            connector_id=info["connector_id"],
            chain_pem=chain,
            key_pem=key_path.read_bytes(),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise EnrollmentError(
            f"the connector identity in {data_dir} is unreadable: {exc}",
            hint=f"restore {KEY_FILE}, {CERT_FILE} and {INFO_FILE}, or remove them and enroll "
            "again with a new attach code",
        ) from exc


def store_identity(data_dir: Path, key_pem: bytes, answer: EnrollResponse) -> ConnectorIdentity:
    """Keep an enrollment (or renewal) answer with its key; the identity now in force."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(data_dir / KEY_FILE, key_pem)
    _write_private(data_dir / CERT_FILE, (answer.certificate_pem + answer.ca_chain_pem).encode())
    info = {
        "tenant_id": answer.tenant_id,
        "hierarchy_id": answer.hierarchy_id,
        "connector_id": answer.connector_id,
    }
    _write_private(data_dir / INFO_FILE, json.dumps(info, indent=2).encode())
    identity = load_identity(data_dir)
    assert identity is not None
    return identity


async def enroll(
    anonymous: ConnectorClient,
    data_dir: Path,
    *,
    attach_code: str | None,
    hierarchy_id: str,
    site_code: str,
    version: str,
) -> ConnectorIdentity:
    """Spend the attach code for a certificate and keep it; raises without a code."""
    if not attach_code:
        raise EnrollmentError(
            f"the connector is not enrolled (no {CERT_FILE} in {data_dir}) and has no attach code",
            hint="create one in the admin center (or `cobridge cloud attach-code create`) and set "
            "attach_code under [cloud], or COBRIDGE_CONNECTOR_CLOUD__ATTACH_CODE",
        )
    # The key is kept before the code is spent: if the answer is lost (a reset,
    # a crash), the next start asks again with the same key and the service
    # answers with the certificate it issued for it.
    pending = data_dir / PENDING_KEY_FILE
    if pending.exists():
        key_pem = pending.read_bytes()
        csr = csr_for(key_pem, hierarchy_id)
    else:
        key_pem, csr = new_key_and_csr(hierarchy_id)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(pending, key_pem)
    answer = await anonymous.enroll(attach_code, csr, hierarchy_id, site_code, version)
    identity = store_identity(data_dir, key_pem, answer)
    pending.unlink(missing_ok=True)
    return identity


async def renew_if_due(
    connector: ConnectorClient, data_dir: Path, identity: ConnectorIdentity
) -> ConnectorIdentity | None:
    """Renew with a new key when due; the new identity, or None when not due."""
    if not identity.due_for_renewal(datetime.now(UTC)):
        return None
    key_pem, csr = new_key_and_csr(identity.hierarchy_id)
    answer = await connector.renew(csr)
    return store_identity(data_dir, key_pem, answer)
