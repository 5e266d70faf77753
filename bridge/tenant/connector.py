"""The connector's client of the tenant service: the calls the connector makes, and only those.

They go to the connector listener, authenticated by the enrolled client
certificate (mutual TLS; enrollment needs none). The admin API is
`bridge.tenant.admin.AdminClient`'s, a device's check-in
`bridge.tenant.checkin.CheckInClient`'s. Every call returns the wire
contract's models and fails with a `CloudError` (see `bridge.tenant.errors`);
transport, retries and error translation live in `bridge.tenant.core`.

    async with ConnectorClient(None, url, ca_pem=root) as anonymous:
        enrolled = await anonymous.enroll(code, csr, "H-PS1", "PS1", "1.0")
    chain = (enrolled.certificate_pem + enrolled.ca_chain_pem).encode()
    async with anonymous.with_certificate(chain, key_pem) as connector:
        await connector.heartbeat(Heartbeat())
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Sequence

from bridge.tenant.connector_orders import ConnectorOrderCalls
from bridge.tenant.core import Target
from bridge.tenant.policy import CONNECT_ONLY, REFUSED_ONLY
from cloud.contract.attach import (
    EnrollRequest,
    EnrollResponse,
    Heartbeat,
    HeartbeatAck,
    HierarchyOut,
    HierarchyRegistration,
    RenewRequest,
)
from cloud.contract.authority import (
    MAX_COMMANDS,
    MAX_STATES,
    AuthorityCommand,
    AuthorityCommandBatch,
    AuthorityReplies,
    AuthorityReport,
    AuthorityReportAck,
    AuthorityState,
)
from cloud.contract.directory import (
    MAX_DIRECTORY_BATCH,
    DirectoryComputer,
    DirectoryComputerAck,
    DirectoryComputerBatch,
)
from cloud.contract.inventory import (
    MAX_BATCH_ITEMS,
    HeldDevice,
    HeldDevicePage,
    IngestAck,
    IngestBatch,
)
from cloud.contract.system import Health
from workloads.messages import Command

__all__ = ["ConnectorClient"]


class ConnectorClient(ConnectorOrderCalls):
    """The tenant service as the connector calls it (see `ClientCore` for the settings).

    Attachment, inventory, authority and directory calls are here; the orders
    it carries out and the audit entries it uploads in `ConnectorOrderCalls`.

    Retries: idempotent calls retry connection errors, timeouts, 429 and
    502/503/504; enrollment retries only failures to connect (its attach code
    is single use); other calls that create or change something retry only
    failures to connect and 429. `stats` records attempts and waits.
    """

    async def enroll(
        self,
        attach_code: str,
        csr_pem: str | bytes,
        hierarchy_id: str,
        site_code: str,
        connector_version: str = "unknown",
    ) -> EnrollResponse:
        """Exchange a one-time attach code and a CSR for the connector's certificate.

        Never repeated once the request may have reached the service: the code
        would be spent by the first attempt and refused on the second.
        """
        request = EnrollRequest(
            attach_code=attach_code,
            csr_pem=csr_pem.decode("ascii") if isinstance(csr_pem, bytes) else csr_pem,
            hierarchy_id=hierarchy_id,
            site_code=site_code,
            connector_version=connector_version,
        )
        return await self._call(
            "enroll",
            "POST",
            "connector",
            "/connector/v1/enroll",
            EnrollResponse,
            send=request,
            policy=CONNECT_ONLY,
        )

    async def renew(self, csr_pem: str | bytes) -> EnrollResponse:
        """A new certificate for this connector (same identity) for the key of `csr_pem`."""
        request = RenewRequest(
            csr_pem=csr_pem.decode("ascii") if isinstance(csr_pem, bytes) else csr_pem
        )
        return await self._call(
            "renew",
            "POST",
            "connector",
            "/connector/v1/renew",
            EnrollResponse,
            send=request,
            policy=REFUSED_ONLY,
        )

    async def register_hierarchy(self, registration: HierarchyRegistration) -> HierarchyOut:
        """Register (or refresh) the connector's hierarchy with the tenant."""
        return await self._call(
            "register_hierarchy",
            "PUT",
            "connector",
            "/connector/v1/hierarchy",
            HierarchyOut,
            send=registration,
        )

    async def heartbeat(self, heartbeat: Heartbeat) -> HeartbeatAck:
        """Report a sign of life and status; the answer carries the server's clock and progress."""
        return await self._call(
            "heartbeat",
            "POST",
            "connector",
            "/connector/v1/heartbeat",
            HeartbeatAck,
            send=heartbeat,
        )

    async def ingest(self, batch: IngestBatch, *, compress: bool = True) -> IngestAck:
        """Upload a batch of upserts and tombstones; a replay of the same batch id changes nothing.

        The body is the batch's JSON with wire names, gzip-compressed by default
        (with no timestamp in the gzip header, so the same batch gives the same bytes).
        """
        body = batch.model_dump_json(by_alias=True).encode()
        headers = {}
        if compress:
            # Level 1: a tenth of level 9's CPU for about 18% more bytes (700k devices:
            # seconds of CPU saved); mtime 0 keeps a batch's bytes the same on resend.
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        reply = await self._request(
            "ingest", "POST", "connector", "/connector/v1/ingest", body=body, headers=headers
        )
        return self._decode("ingest", reply, IngestAck)

    async def ingest_encoded(self, body_gzip: bytes, *, batch_id: str) -> IngestAck:
        """Upload a batch already encoded as gzip of its wire JSON (the connector's outbox form).

        The same bytes on every resend; the service validates them as it would
        any batch. `batch_id` only names the call in errors.
        """
        reply = await self._request(
            f"ingest {batch_id}",
            "POST",
            "connector",
            "/connector/v1/ingest",
            body=body_gzip,
            headers={"Content-Encoding": "gzip"},
        )
        return self._decode("ingest", reply, IngestAck)

    async def healthz(self) -> Health:
        """The service's liveness and readiness (API listener, else the connector listener)."""
        target: Target = "api" if self._urls["api"] is not None else "connector"
        return await self._call("healthz", "GET", target, "/healthz", Health)

    async def held_devices(self) -> AsyncIterator[HeldDevice]:
        """Every device the tenant holds for this connector's hierarchy, by SMSID."""
        after: str | None = None
        while True:
            params = {"top": str(MAX_BATCH_ITEMS)} | ({"after": after} if after else {})
            page = await self._call(
                "held_devices",
                "GET",
                "connector",
                "/connector/v1/devices",
                HeldDevicePage,
                params=params,
            )
            for device in page.value:
                yield device
            if page.next_after is None:
                return
            after = page.next_after

    async def authority_commands(
        self, commands: Sequence[AuthorityCommand | Command]
    ) -> AuthorityReplies:
        """Send grants and revokes to the cloud gate; one reply per command, in their order.

        Domain commands (`workloads.messages`) are sent with their device as
        the SMSID. More than `MAX_COMMANDS` go as consecutive batches, in
        order. Retried like any idempotent call: the gate acknowledges a
        command it already applied, and answers `stale` to one it has since
        seen superseded.
        """
        wire = [c if isinstance(c, AuthorityCommand) else AuthorityCommand.of(c) for c in commands]
        replies = []
        for start in range(0, len(wire), MAX_COMMANDS):
            batch = AuthorityCommandBatch(commands=wire[start : start + MAX_COMMANDS])
            answer = await self._call(
                "authority_commands",
                "POST",
                "connector",
                "/connector/v1/authority/commands",
                AuthorityReplies,
                send=batch,
            )
            replies.extend(answer.replies)
        return AuthorityReplies(replies=replies)

    async def report_authority(self, states: Sequence[AuthorityState]) -> AuthorityReportAck:
        """Report the arbiter's changed records (more than `MAX_STATES` in consecutive reports).

        Idempotent: a record older than the one the tenant holds is ignored.
        """
        received = applied = 0
        records = list(states)
        for start in range(0, len(records), MAX_STATES):
            ack = await self._call(
                "report_authority",
                "POST",
                "connector",
                "/connector/v1/authority/states",
                AuthorityReportAck,
                send=AuthorityReport(records=records[start : start + MAX_STATES]),
            )
            received, applied = received + ack.received, applied + ack.applied
        return AuthorityReportAck(received=received, applied=applied, ignored=received - applied)

    async def send_directory_computers(
        self, computers: Sequence[DirectoryComputer]
    ) -> DirectoryComputerAck:
        """Send changed AD computers (more than `MAX_DIRECTORY_BATCH` as consecutive batches).

        Retried like any idempotent call: the tenant stores each computer's
        latest record, so a batch sent twice changes nothing the second time.
        """
        received = changed = 0
        records = list(computers)
        for start in range(0, len(records), MAX_DIRECTORY_BATCH):
            ack = await self._call(
                "directory_computers",
                "POST",
                "connector",
                "/connector/v1/directory/computers",
                DirectoryComputerAck,
                send=DirectoryComputerBatch(computers=records[start : start + MAX_DIRECTORY_BATCH]),
            )
            received, changed = received + ack.received, changed + ack.changed
        return DirectoryComputerAck(received=received, changed=changed)
