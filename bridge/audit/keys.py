"""Key fingerprints, signature checks and certificate checks for the audit chain.

Shared with the tenant service: they live in `cloud.contract.audit_chain`,
and are named here for the connector's modules.
"""

from cloud.contract.audit_chain import (
    certified_by,
    fingerprint,
    load_certificates,
    load_public_key,
    public_pem,
    sign_hash,
    signature_valid,
)

__all__ = [
    "certified_by",
    "fingerprint",
    "load_certificates",
    "load_public_key",
    "public_pem",
    "sign_hash",
    "signature_valid",
]
