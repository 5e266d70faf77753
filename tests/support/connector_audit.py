"""Helpers of the connector audit-log tests: signed chains, enrolled connectors with their keys."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from bridge.audit import SIGNER_CHANGED, AuditEntry, AuditEvent, AuditSigner
from bridge.audit.chain import chain_entry
from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from cloud.contract.attach import HierarchyRegistration
from cloud.contract.audit_chain import GENESIS
from cloud.contract.connector_audit import AuditEntryIn, AuditSignerIn, AuditUpload
from tests.support.cloud_service import RunningService, new_key_and_csr

T0 = datetime(2026, 11, 1, 8, 0, 0, 250000, tzinfo=UTC)


def local_signer() -> AuditSigner:
    """A key without a certificate, as a connector signs with before it enrolls."""
    return AuditSigner("local", ec.generate_private_key(ec.SECP256R1()))


def signer_in(signer: AuditSigner) -> AuditSignerIn:
    """The upload's record of a signer."""
    record = signer.record(T0)
    return AuditSignerIn(
        signer=record.signer,
        kind=record.kind,  # type: ignore[arg-type]
        public_key_pem=record.public_key_pem,
        certificate_pem=record.certificate_pem,
    )


def wire(entries: list[AuditEntry]) -> list[AuditEntryIn]:
    """Entries in the upload's form."""
    return [AuditEntryIn.of(e) for e in entries]


@dataclass
class Chain:
    """A chain built entry by entry, each linked to the previous one's hash as stored here."""

    entries: list[AuditEntry] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The chain's id: the entry hash of its entry 1."""
        return self.entries[0].entry_hash

    @property
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry, (0, GENESIS) when empty."""
        last = self.entries[-1] if self.entries else None
        return (last.seq, last.entry_hash) if last else (0, GENESIS)

    def add(
        self,
        signer: AuditSigner,
        *,
        action: str = "workload.set",
        target: str = "compliancePolicy",
        details: dict[str, Any] | None = None,
        sign_with: AuditSigner | None = None,
    ) -> AuditEntry:
        """Append an entry signed by `signer` (or, forged, by `sign_with` in its name)."""
        seq, prev = self.head
        event = AuditEvent("cli:ana", action, target, details or {"n": seq + 1}).normalized()
        entry = chain_entry(
            event, seq=seq + 1, prev_hash=prev, signer=signer, now=T0 + timedelta(minutes=seq)
        )
        if sign_with is not None:
            entry = dataclasses.replace(entry, signature=sign_with.sign(entry.entry_hash))
        self.entries.append(entry)
        return entry

    def hand_over(self, new: AuditSigner, old: AuditSigner) -> AuditEntry:
        """The `audit.signer-changed` entry by which `new` vouches for `old`."""
        details = {"previous": old.fingerprint, "kind": new.kind}
        return self.add(new, action=SIGNER_CHANGED, target=new.fingerprint, details=details)

    def grow(self, signer: AuditSigner, count: int) -> list[AuditEntry]:
        """`count` more entries by `signer`."""
        return [self.add(signer) for _ in range(count)]

    def span(self, first: int, last: int) -> list[AuditEntryIn]:
        """Entries `first`..`last` (sequences, inclusive) in the upload's form."""
        return wire(self.entries[first - 1 : last])


@dataclass
class EnrolledConnector:
    """A registered connector's client, its id, and an audit signer over its enrolled key."""

    client: ConnectorClient
    connector_id: str
    signer: AuditSigner


async def enrolled_connector(
    service: RunningService, admin: AdminClient, hierarchy_id: str
) -> EnrolledConnector:
    """Enroll and register a connector; its key signs audit entries with its certificate chain."""
    code = await admin.create_attach_code(hierarchy_id=hierarchy_id)
    key_pem, csr = new_key_and_csr()
    async with ConnectorClient(None, service.connector_url, ca_pem=service.root_pem) as anonymous:
        enrolled = await anonymous.enroll(code.code, csr, hierarchy_id, "PS1", "1.0")
    chain = enrolled.certificate_pem + enrolled.ca_chain_pem
    client = anonymous.with_certificate(chain.encode(), key_pem)
    await client.register_hierarchy(
        HierarchyRegistration(hierarchy_id=hierarchy_id, site_code="PS1")
    )
    signer = AuditSigner.from_pem(key_pem, kind="connector", certificate_pem=chain)
    return EnrolledConnector(client, enrolled.connector_id, signer)


def upload_body(target: str, entries: int = 2) -> dict[str, Any]:
    """The wire body of a new chain's first `entries` entries, by a fresh key sent along."""
    signer, chain = local_signer(), Chain()
    for _ in range(entries):
        chain.add(signer, target=target)
    return AuditUpload(signers=[signer_in(signer)], entries=wire(chain.entries)).wire()
