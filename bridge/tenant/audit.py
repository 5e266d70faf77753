"""Reading the tenant's refusals of an audit upload.

The connector's upload is `ConnectorClient.send_audit_entries`, the admin's
read `AdminClient.connector_audit_log`. An upload's refusals carry stable
codes: `audit_chain_gap` (the batch does not continue the head of the chain
it names; `tenant_head` reads the head from the error),
`audit_chain_conflict` (another entry is held for one of its sequences),
`audit_chain_superseded` (a newer chain of the hierarchy took this one's
place) and `audit_signer_missing` (send the signer records).
"""

from __future__ import annotations

from bridge.tenant.errors import CloudApiError


def tenant_head(error: CloudApiError) -> tuple[int, str] | None:
    """The (seq, hash) of the tenant's head an `audit_chain_gap` refusal names; else None."""
    if error.code != "audit_chain_gap" or not error.details:
        return None
    detail = error.details[0]
    seq, head_hash = detail.get("headSeq", ""), detail.get("headHash", "")
    return (int(seq), head_hash) if seq.isdigit() and head_hash else None
