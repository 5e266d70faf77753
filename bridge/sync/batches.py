"""Encoded ingest batches: records already in wire JSON, joined into one gzip body.

A record is validated once, when mapping makes its `DeviceRecord`, and
encoded once; a batch is those bytes inside the `IngestBatch` envelope.
Building the envelope from the contract's own aliases keeps it in step with
`cloud.contract.inventory`, and a test checks every body validates as an
`IngestBatch`. A *unit* is what must travel in one all-or-nothing batch: an
upsert, or an upsert with the tombstone of the device it supersedes, or a
tombstone alone.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from cloud.contract.inventory import MAX_BATCH_ITEMS, CollectionRecord, IngestBatch, Tombstone

_FIELD = {name: info.alias or name for name, info in IngestBatch.model_fields.items()}
_TOMBSTONE = {name: info.alias or name for name, info in Tombstone.model_fields.items()}


def tombstone_json(smsid: str, reason: str) -> bytes:
    """The wire JSON of a tombstone."""
    return json.dumps(
        {_TOMBSTONE["smsid"]: smsid, _TOMBSTONE["reason"]: reason}, separators=(",", ":")
    ).encode()


@dataclass(frozen=True, slots=True)
class Unit:
    """Records that travel together: upserts and tombstones, each as wire JSON."""

    upserts: tuple[bytes, ...] = ()
    tombstones: tuple[bytes, ...] = ()

    @property
    def size(self) -> int:
        """Items this unit adds to a batch."""
        return len(self.upserts) + len(self.tombstones)


@dataclass(frozen=True)
class EncodedBatch:
    """A batch ready for the outbox: its id, sequence and gzip body."""

    batch_id: uuid.UUID
    sequence: int
    body: bytes
    upserts: int
    tombstones: int
    units: tuple[Unit, ...] = field(repr=False)


def encode(
    batch_id: uuid.UUID,
    hierarchy_id: str,
    sequence: int,
    units: tuple[Unit, ...],
    collections: list[CollectionRecord] | None = None,
) -> EncodedBatch:
    """Join `units` into one batch body (gzip level 1, no timestamp: resends are identical)."""
    upserts = [u for unit in units for u in unit.upserts]
    tombstones = [t for unit in units for t in unit.tombstones]
    head = json.dumps(
        {
            _FIELD["batch_id"]: str(batch_id),
            _FIELD["hierarchy_id"]: hierarchy_id,
            _FIELD["sequence"]: sequence,
        },
        separators=(",", ":"),
    ).encode()
    parts = [
        head[:-1],
        b',"%s":[' % _FIELD["upserts"].encode(),
        b",".join(upserts),
        b'],"%s":[' % _FIELD["tombstones"].encode(),
        b",".join(tombstones),
        b"]",
    ]
    if collections is not None:
        listed = b",".join(c.model_dump_json(by_alias=True).encode() for c in collections)
        parts += [b',"%s":[' % _FIELD["collections"].encode(), listed, b"]"]
    parts.append(b"}")
    body = gzip.compress(b"".join(parts), compresslevel=1, mtime=0)
    return EncodedBatch(batch_id, sequence, body, len(upserts), len(tombstones), units)


def group(units: Iterator[Unit], size: int) -> Iterator[tuple[Unit, ...]]:
    """Units gathered into batches of at most `size` items (a unit is never split)."""
    if not 1 <= size <= MAX_BATCH_ITEMS:
        raise ValueError(f"batch size must be 1..{MAX_BATCH_ITEMS}")
    pending: list[Unit] = []
    items = 0
    for unit in units:
        if pending and items + unit.size > size:
            yield tuple(pending)
            pending, items = [], 0
        pending.append(unit)
        items += unit.size
    if pending:
        yield tuple(pending)


def halves(units: tuple[Unit, ...]) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """A refused batch's units in two halves, to find the record the service refuses."""
    middle = len(units) // 2
    return units[:middle], units[middle:]
