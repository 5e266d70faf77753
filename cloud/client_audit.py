"""Audit-log calls of the cloud client: the connector's upload and the admin's read.

`CloudClient` (in `cloud.client`) includes these; use that class. An upload
is idempotent (entries the tenant holds with the same hash are skipped), so
it is retried like any idempotent call. Its refusals carry stable codes:
`audit_chain_gap` (the batch does not continue the tenant's head; `tenant_head`
reads the head from the error), `audit_chain_conflict` (another entry is held
for one of its sequences) and `audit_signer_missing` (send the signer records).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from cloud.client_admin import AdminCalls
from cloud.client_errors import CloudApiError
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
        self, entries: Sequence[AuditEntryIn], signers: Sequence[AuditSignerIn] = ()
    ) -> AuditUploadAck:
        """Send consecutive entries (at most `MAX_AUDIT_BATCH`) and the signer records not sent.

        The answer gives the chain's status at the tenant after the batch.
        """
        return await self._call(
            "audit_entries",
            "POST",
            "connector",
            "/connector/v1/audit/entries",
            AuditUploadAck,
            send=AuditUpload(signers=list(signers), entries=list(entries)),
        )

    # Admin calls (API listener).

    async def connector_audit_log(
        self, hierarchy_id: str, *, top: int = 100, before: int | None = None
    ) -> ConnectorAuditLogOut:
        """A page of the hierarchy's connector audit log, newest first, and the chain's status."""
        params = {"$top": str(top)}
        if before is not None:
            params["before"] = str(before)
        path = f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/auditLog"
        return await self._call(
            "connector_audit_log", "GET", "api", path, ConnectorAuditLogOut, params=params
        )
