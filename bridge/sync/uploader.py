"""Uploading batches: several in flight, checkpointed on each acknowledgement.

Every batch reaching `send` is already in the outbox (persisted before it is
sent), so a crash at any point leaves it pending, to be resent after a
restart: the service replays a batch id without applying it twice. An
acknowledgement applies the batch's effects to device state and closes it in
one transaction (`Outbox.acknowledge`).

A batch the service refuses for its content (`invalid_body`,
`payload_too_large`) is abandoned and split in halves, each sent as a new
batch, until the refused record is alone; that record is quarantined
(source `cloud`) and the rest of the cycle goes on. Any other failure
(unreachable after the client's retries, certificate refused, hierarchy
detached) stops the cycle: what was not acknowledged stays pending.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bridge.state import ConnectorState, PendingBatch, StateTransaction
from bridge.sync.batches import EncodedBatch, Unit, encode, halves
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudApiError
from cloud.contract.inventory import CollectionRecord, IngestAck

log = logging.getLogger("cobridge.sync")

# Refusals of a batch's content: splitting finds the record the service refuses.
SPLIT_CODES = frozenset({"invalid_body", "payload_too_large"})
# The batch id is known with other content (a state store copied between hosts):
# abandon it, and the next cycle offers its records again.
ABANDON_CODES = frozenset({"batch_conflict"})


@dataclass(frozen=True)
class Refused:
    """A record the service refused on its own, in the quarantine's shape."""

    resource_id: int | None
    smsid: str | None
    name: str | None
    detail: str
    reason: str = "refused_by_service"
    column: str = "wire"


@dataclass
class UploadTally:
    """What the uploads of a cycle did."""

    batches: int = 0
    acknowledged: int = 0
    replayed: int = 0
    upserted: int = 0
    unchanged: int = 0
    tombstoned: int = 0
    stale: int = 0
    split: int = 0
    abandoned: int = 0
    refused: list[Refused] = field(default_factory=list)

    def add(self, ack: IngestAck) -> None:
        """Count one acknowledgement."""
        self.acknowledged += 1
        self.replayed += int(ack.replayed)
        self.upserted += ack.upserted
        self.unchanged += ack.unchanged
        self.tombstoned += ack.tombstoned
        self.stale += ack.stale


def units_of(pending: PendingBatch) -> tuple[Unit, ...]:
    """A stored batch's records as units (one per record: the pairing is not stored)."""
    document = json.loads(gzip.decompress(pending.body))
    dumps = json.dumps
    upserts = [
        Unit(upserts=(dumps(u, separators=(",", ":")).encode(),)) for u in document["upserts"]
    ]
    tombstones = [
        Unit(tombstones=(dumps(t, separators=(",", ":")).encode(),)) for t in document["tombstones"]
    ]
    return tuple(upserts + tombstones)


class Uploader:
    """Sends outbox batches to the service and checkpoints their acknowledgements."""

    def __init__(
        self,
        client: ConnectorClient,
        state: ConnectorState,
        hierarchy_id: str,
        *,
        clock: Callable[[], datetime],
        tally: UploadTally | None = None,
    ) -> None:
        self._client = client
        self._state = state
        self._hierarchy_id = hierarchy_id
        self._clock = clock
        self.tally = tally or UploadTally()

    def persist(
        self,
        units: tuple[Unit, ...],
        collections: list[CollectionRecord] | None = None,
        *,
        also: Callable[[StateTransaction], None] | None = None,
    ) -> EncodedBatch:
        """Draw a sequence, encode and persist a batch in one transaction (send it after).

        `also` runs in the same transaction (what must hold only if the batch is stored).
        """
        with self._state.transaction() as tx:
            batch = encode(
                uuid.uuid4(), self._hierarchy_id, tx.sequences.next(), units, collections
            )
            tx.outbox.put_encoded(
                batch.batch_id,
                batch.sequence,
                batch.body,
                upserts=batch.upserts,
                tombstones=batch.tombstones,
                now=self._clock(),
            )
            if also is not None:
                also(tx)
        return batch

    async def send(self, batch: EncodedBatch) -> None:
        """Send one persisted batch until acknowledged, split or abandoned; raise to stop."""
        self.tally.batches += 1
        try:
            ack = await self._client.ingest_encoded(batch.body, batch_id=str(batch.batch_id))
        except CloudApiError as refused:
            if refused.code in ABANDON_CODES:
                await self._abandon(batch, refused)
                return
            if refused.code not in SPLIT_CODES:
                raise
            await self._split(batch, refused)
            return
        await asyncio.to_thread(
            self._state.outbox.acknowledge, batch.batch_id, ack, now=self._clock()
        )
        self.tally.add(ack)

    async def flush_pending(self, in_flight: int) -> int:
        """Send every batch left pending (by a crash, or a failed cycle); how many."""
        pending = await asyncio.to_thread(self._state.outbox.pending)
        if not pending:
            return 0
        log.info("resending %d pending batch(es)", len(pending))
        limit = asyncio.Semaphore(in_flight)

        async def one(stored: PendingBatch) -> None:
            async with limit:
                batch = EncodedBatch(
                    stored.batch_id, stored.sequence, stored.body, 0, 0, units_of(stored)
                )
                await self.send(batch)

        await all_or_first_error([asyncio.create_task(one(stored)) for stored in pending])
        return len(pending)

    async def _abandon(self, batch: EncodedBatch, refused: CloudApiError) -> None:
        log.warning("batch %s abandoned: %s", batch.batch_id, refused.server_message)
        await asyncio.to_thread(
            self._state.outbox.abandon,
            batch.batch_id,
            f"{refused.code}: {refused.server_message}",
            now=self._clock(),
        )
        self.tally.abandoned += 1

    async def _split(self, batch: EncodedBatch, refused: CloudApiError) -> None:
        await self._abandon(batch, refused)
        self.tally.abandoned -= 1  # split, not lost
        if len(batch.units) <= 1:
            for unit in batch.units:
                self.tally.refused.extend(_refused(unit, refused))
            return
        self.tally.split += 1
        for half in halves(batch.units):
            if half:
                await self.send(await asyncio.to_thread(self.persist, half))


async def all_or_first_error(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; on the first failure cancel the rest and raise that failure."""
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _refused(unit: Unit, error: CloudApiError) -> list[Refused]:
    detail = f"{error.code}: {error.server_message}"[:4000]
    found = []
    for raw in unit.upserts + unit.tombstones:
        record = json.loads(raw)
        found.append(
            Refused(
                resource_id=record.get("resourceId"),
                smsid=record.get("smsid"),
                name=record.get("name"),
                detail=detail,
            )
        )
    return found
