"""Walking an audit chain and naming its first problem precisely.

The walk is shared with the tenant service, which checks what a connector
uploads with it: it lives in `cloud.contract.audit_verify` and is named here
for the connector's modules.
"""

from cloud.contract.audit_verify import (
    RENUMBER_SEARCH,
    Problem,
    SignerInfo,
    SignerSummary,
    TrustAnchors,
    VerifyReport,
    verify_entries,
)

__all__ = [
    "RENUMBER_SEARCH",
    "Problem",
    "SignerInfo",
    "SignerSummary",
    "TrustAnchors",
    "VerifyReport",
    "verify_entries",
]
