"""How the connector gets its identity: enrollment with the attach code, and renewal.

The connector makes an EC P-256 key and a CSR, spends the one-time attach
code for a certificate signed by the tenant's CA, and keeps both in its data
directory (`bridge.state.identity_files`, re-exported here). Renewal sends a
CSR for a new key over the current certificate when a third of the validity
is left.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bridge.state.identity_files import (
    CERT_FILE,
    INFO_FILE,
    KEY_FILE,
    PENDING_KEY_FILE,
    RENEW_WHEN_LEFT,
    ConnectorIdentity,
    EnrollmentError,
    csr_for,
    load_identity,
    new_key_and_csr,
    store_identity,
    write_private,
)
from bridge.tenant.connector import ConnectorClient

__all__ = [
    "CERT_FILE",
    "INFO_FILE",
    "KEY_FILE",
    "PENDING_KEY_FILE",
    "RENEW_WHEN_LEFT",
    "ConnectorIdentity",
    "EnrollmentError",
    "csr_for",
    "enroll",
    "load_identity",
    "new_key_and_csr",
    "renew_if_due",
    "store_identity",
]


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
        write_private(pending, key_pem)
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
