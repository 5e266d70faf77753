"""What sync needs of the site, of the tenant and of the connector's state, as small Protocols.

- `InventorySource`: the site as sync reads it (its identity, its
  collections, one streaming read). `onprem.site_reader.SiteReader`
  satisfies it; so does any other site adapter that streams the same
  records. `InventoryReader` is the read alone (the arbiter's and the
  rollout planner's need).
- `IngestSink`: the tenant as sync writes to it (encoded batches, and the
  devices it already holds, for a new state store). The connector's client
  of the tenant service satisfies it.
- `OutboxStore`, `CycleStore`: the repositories of the connector's state a
  batch and a cycle use (`bridge.state.ports`); `bridge.state.ConnectorState`
  satisfies both. A transaction yields the same repositories bound to one
  transaction, so what must commit together still does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from bridge.state.ports import (
    WithDeletes,
    WithDevices,
    WithOutbox,
    WithQuarantine,
    WithRuns,
    WithSequences,
    WithSources,
)
from cloud.contract.inventory import HeldDevice, IngestAck
from onprem.site_reader import ReadStats, SiteCollection
from onprem.site_records import RejectedRecord, SiteDevice
from onprem.site_statements import ReadScope
from onprem.site_store import SiteIdentity


class InventoryStream(Protocol):
    """One pass over the site's inventory: records and rejects in ResourceID order."""

    @property
    def stats(self) -> ReadStats:
        """What the pass saw so far; `complete` only once the last row was read."""
        ...

    def __iter__(self) -> Iterator[SiteDevice | RejectedRecord]:
        """The records, streamed (iterate once)."""
        ...


class InventoryReader(Protocol):
    """The site's inventory, read in one streaming pass."""

    def read(self, scope: ReadScope | None = None) -> InventoryStream:
        """Start a read of the devices in `scope` (all when None)."""
        ...


class InventorySource(InventoryReader, Protocol):
    """The site as a sync cycle reads it: who it is, its collections, its devices."""

    def check(self) -> SiteIdentity:
        """The site's identity (its instance id tells a restored database); raises if unusable."""
        ...

    def collections(self) -> list[SiteCollection]:
        """Every collection of the site, by CollectionID."""
        ...


class IngestSink(Protocol):
    """The tenant as a sync cycle writes to it."""

    async def ingest_encoded(self, body_gzip: bytes, *, batch_id: str) -> IngestAck:
        """Upload one batch as the outbox keeps it (gzip of its wire JSON); the acknowledgement."""
        ...

    def held_devices(self) -> AsyncIterator[HeldDevice]:
        """Every device the tenant holds for this hierarchy (adopted by a new state store)."""
        ...


class BatchTransaction(WithSequences, WithOutbox, WithDeletes, Protocol):
    """The repositories a batch is persisted with, inside one transaction.

    Released deletes are marked sent in the transaction of their batch.
    """


class OutboxStore(WithOutbox, Protocol):
    """The outbox, and transactions that persist a batch with its sequence."""

    def transaction(self) -> AbstractContextManager[BatchTransaction]:
        """One transaction: committed on success, rolled back on error."""
        ...


class CycleTransaction(BatchTransaction, WithSources, Protocol):
    """What a cycle's transactions touch: a batch with its sequence, or the site's cursor."""


class CycleStore(
    WithSources, WithRuns, WithDevices, WithQuarantine, WithDeletes, WithOutbox, Protocol
):
    """Every repository one sync cycle reads or writes.

    The cycle checkpoints the site's cursor in a transaction of its own, and
    hands the outbox (`OutboxStore`) to its uploader, the held deletes and the
    devices to its delete step; the rest are single calls.
    """

    def transaction(self) -> AbstractContextManager[CycleTransaction]:
        """One transaction: committed on success, rolled back on error."""
        ...
