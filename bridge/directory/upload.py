"""Sending the merged AD computers to the tenant: only what changed since it last acknowledged.

Each stored computer keeps the digest of the record the tenant acknowledged
(`uploaded_digest`). After a directory pass, every computer whose wire record
now has another digest is sent, `MAX_DIRECTORY_BATCH` at a time, and its
digest recorded once its batch is acknowledged. A failed send leaves the rest
for the next pass; sending a batch again is harmless (the tenant stores the
latest record), so a crash between the acknowledgement and the record of it
costs one repeated batch, never a lost change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.state.directory import DirectoryComputer
from bridge.state.ports import WithDirectory
from bridge.tenant.connector import ConnectorClient
from cloud.contract.directory import MAX_DIRECTORY_BATCH
from cloud.contract.directory import DirectoryComputer as WireComputer
from workloads.errors import CobridgeError

log = logging.getLogger("cobridge.connector")

_WIRE_MATCH = {"dn": "dn", "name_domain": "nameDomain", "none": "none", "disputed": "disputed"}


@dataclass
class DirectoryUploadReport:
    """How one upload went: computers sent and changed at the tenant, pending left, error."""

    sent: int = 0
    changed: int = 0
    pending: int = 0
    error: str | None = None


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def wire_computer(computer: DirectoryComputer) -> WireComputer:
    """The tenant's form of a stored computer (its match spelled as on the wire)."""
    return WireComputer(
        object_guid=computer.object_guid,
        distinguished_name=computer.dn,
        name=computer.name,
        sam_account_name=computer.sam_account_name,
        dns_host_name=computer.dns_host_name,
        operating_system=computer.os,
        operating_system_version=computer.os_version,
        last_logon=_aware(computer.last_logon),
        enabled=not computer.disabled,
        deleted_at=_aware(computer.deleted_at),
        match=_WIRE_MATCH[computer.match],  # type: ignore[arg-type]
        smsid=computer.matched_smsid,
        discrepancy=computer.discrepancy,
    )


def wire_digest(record: WireComputer) -> str:
    """A digest of a wire record: equal content, equal digest."""
    return hashlib.sha256(json.dumps(record.wire(), sort_keys=True).encode()).hexdigest()


class DirectoryUpload:
    """Sends the computers the tenant does not hold as they are; `run()` after each pass."""

    def __init__(self, state: WithDirectory, client: ConnectorClient) -> None:
        self.state = state
        self.client = client

    def _pending(self) -> list[tuple[WireComputer, str]]:
        pending = []
        for computer in self.state.directory.all():
            record = wire_computer(computer)
            digest = wire_digest(record)
            if digest != computer.uploaded_digest:
                pending.append((record, digest))
        return pending

    async def run(self) -> DirectoryUploadReport:
        """Send what changed; a failure is logged and reported, never raised."""
        pending = await asyncio.to_thread(self._pending)
        report = DirectoryUploadReport(pending=len(pending))
        for start in range(0, len(pending), MAX_DIRECTORY_BATCH):
            chunk = pending[start : start + MAX_DIRECTORY_BATCH]
            try:
                ack = await self.client.send_directory_computers([r for r, _ in chunk])
            except CobridgeError as exc:
                log.warning(
                    "sending directory computers failed (%d left for the next pass): %s",
                    report.pending,
                    exc,
                )
                report.error = str(exc)
                return report
            await asyncio.to_thread(
                self.state.directory.mark_uploaded, {r.object_guid: d for r, d in chunk}
            )
            report.sent += ack.received
            report.changed += ack.changed
            report.pending -= len(chunk)
        if report.sent:
            log.info("directory computers sent: %d (%d changed)", report.sent, report.changed)
        return report
