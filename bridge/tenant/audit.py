"""Audit-log calls of the cloud client: the connector's upload and the admin's read.

`CloudClient` (in `bridge.tenant.connector`) includes these; use that class. An upload
is idempotent (entries the tenant holds with the same hash are skipped), so
it is retried like any idempotent call. Its refusals carry stable codes:
`audit_chain_gap` (the batch does not continue the head of the chain it
names; `tenant_head` reads the head from the error), `audit_chain_conflict`
(another entry is held for one of its sequences), `audit_chain_superseded`
(a newer chain of the hierarchy took this one's place) and
`audit_signer_missing` (send the signer records).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from bridge.tenant.admin import AdminCalls
from bridge.tenant.errors import CloudApiError
from cloud.contract.connector_audit import (
    AuditEntryIn,
    AuditSignerIn,
    AuditUpload,
    AuditUploadAck,
    ConnectorAuditLogOut,
)


def tenant_head(error: CloudApiError) -> tuple[int, str] | None:
    """The (seq, hash) of the tenant's head an `audit_chain_gap` refusal names; else None."""
    if error.code != "audit_chain_gap" or not error.details:
        return None
    detail = error.details[0]
    seq, head_hash = detail.get("headSeq", ""), detail.get("headHash", "")
    return (int(seq), head_hash) if seq.isdigit() and head_hash else None


class AuditCalls(AdminCalls):
    """The connector audit log as typed async calls; a base of `CloudClient`."""

    # Connector calls (connector listener).

    async def send_audit_entries(
        self,
        entries: Sequence[AuditEntryIn],
        signers: Sequence[AuditSignerIn] = (),
        *,
        chain_id: str | None = None,
    ) -> AuditUploadAck:
        """Send consecutive entries (at most `MAX_AUDIT_BATCH`) and the signer records not sent.

        `chain_id` is the entry hash of the chain's entry 1 (needed unless the
        batch starts there). The answer gives the chain's status at the
        tenant after the batch.
        """
        return await self._call(
            "audit_entries",
            "POST",
            "connector",
            "/connector/v1/audit/entries",
            AuditUploadAck,
            send=AuditUpload(chain_id=chain_id, signers=list(signers), entries=list(entries)),
        )

    # Admin calls (API listener).

    async def connector_audit_log(
        self,
        hierarchy_id: str,
        *,
        top: int = 100,
        before: int | None = None,
        chain: str | None = None,
    ) -> ConnectorAuditLogOut:
        """A page of one of the hierarchy's audit chains (default: the current one), newest first.

        With the chain's status, the list of the hierarchy's chains and its last refused upload.
        """
        params = {"$top": str(top)}
        if before is not None:
            params["before"] = str(before)
        if chain is not None:
            params["chain"] = chain
        path = f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/auditLog"
        return await self._call(
            "connector_audit_log", "GET", "api", path, ConnectorAuditLogOut, params=params
        )
