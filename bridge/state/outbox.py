"""The outbox of batches and the sequence counter: crash-safe, exactly-once upload.

Protocol (DESIGN.md section 6): draw a sequence, build the batch, `put` it,
and only once that transaction has committed send it. After a crash,
`pending()` lists every batch that may or may not have reached the tenant;
resending one is harmless (the tenant replays by batch id). `acknowledge`
applies a batch's effects to device state and closes it in one transaction,
so a crash leaves either both or neither.
"""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bridge.state.devices import BatchEffects, apply_effects
from bridge.state.errors import StateError, UnknownBatch
from bridge.state.schema import counters, outbox
from bridge.state.scope import Scope, from_db, insert_for, to_db
from cloud.contract.inventory import DeviceRecord, IngestAck, IngestBatch, Tombstone

SEQUENCE = "batch_sequence"


class Sequencer:
    """A durable counter of batch sequences that never hands out a number twice."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def next(self) -> int:
        """The next sequence (1, 2, ...); spent when the transaction drawing it commits.

        A rolled-back draw may be handed out again: nothing persisted it, so
        (batches being sent only after `put` commits) nothing was sent with it.
        """
        stmt = insert_for(self._scope, counters).values(name=SEQUENCE, value=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": counters.c.value + 1}
        ).returning(counters.c.value)
        with self._scope.write("drawing a batch sequence") as conn:
            return int(conn.execute(stmt).scalar_one())

    def raise_to(self, floor: int) -> None:
        """Make every later `next()` exceed `floor` (e.g. the tenant's last applied sequence).

        Needed when the state is new but the tenant is not: a fresh data
        directory would otherwise start again at 1, below what the tenant holds.
        """
        stmt = insert_for(self._scope, counters).values(name=SEQUENCE, value=floor)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": stmt.excluded.value},
            where=counters.c.value < stmt.excluded.value,
        )
        with self._scope.write("raising the batch sequence") as conn:
            conn.execute(stmt)


@dataclass(frozen=True)
class PendingBatch:
    """A persisted batch the tenant has not acknowledged yet."""

    batch_id: uuid.UUID
    sequence: int
    created_at: datetime
    body: bytes  # the gzip of the batch's wire JSON (`encode_batch`)

    @property
    def batch(self) -> IngestBatch:
        """The batch itself, decoded."""
        return IngestBatch.model_validate_json(gzip.decompress(self.body))


def encode_batch(batch: IngestBatch) -> bytes:
    """The stored form of a batch: gzip of its wire JSON (the same batch, the same bytes)."""
    # Level 1: a local, short-lived copy; level 9 costs 8x the time for 15% less.
    return gzip.compress(batch.model_dump_json(by_alias=True).encode(), compresslevel=1, mtime=0)


def _wire(model: type[IngestBatch | DeviceRecord | Tombstone], field: str) -> str:
    return model.model_fields[field].alias or field


# Device-state column -> wire name of the DeviceRecord field it copies.
_DEVICE_FIELDS = {
    "smsid": _wire(DeviceRecord, "smsid"),
    "resource_id": _wire(DeviceRecord, "resource_id"),
    "content_hash": _wire(DeviceRecord, "content_hash"),
    "name": _wire(DeviceRecord, "name"),
    "aad_device_id": _wire(DeviceRecord, "aad_device_id"),
    "serial": _wire(DeviceRecord, "serial_number"),
    "model": _wire(DeviceRecord, "model"),
}
_UPSERTS, _TOMBSTONES = _wire(IngestBatch, "upserts"), _wire(IngestBatch, "tombstones")
_TOMBSTONE_SMSID = _wire(Tombstone, "smsid")


def effects_of(body: bytes, sequence: int) -> BatchEffects:
    """What acknowledging a stored batch changes in device state.

    Read as plain JSON: the batch was validated when it was built, and a
    second validation would double the cost of every acknowledgement.
    """
    document = json.loads(gzip.decompress(body))
    return BatchEffects(
        sequence=sequence,
        upserts=[
            {column: record.get(wire) for column, wire in _DEVICE_FIELDS.items()}
            for record in document.get(_UPSERTS) or ()
        ],
        tombstones=[t[_TOMBSTONE_SMSID] for t in document.get(_TOMBSTONES) or ()],
    )


class Outbox:
    """Batches persisted before they are sent, and closed by acknowledgement or refusal."""

    def __init__(self, scope: Scope, *, retain: int) -> None:
        self._scope = scope
        self._retain = retain

    def put(self, batch: IngestBatch, *, now: datetime) -> None:
        """Persist `batch` as pending; send it only after this commits."""
        self.put_encoded(
            batch.batch_id,
            batch.sequence,
            encode_batch(batch),
            upserts=len(batch.upserts),
            tombstones=len(batch.tombstones),
            now=now,
        )

    def put_encoded(
        self,
        batch_id: uuid.UUID,
        sequence: int,
        body: bytes,
        *,
        upserts: int,
        tombstones: int,
        now: datetime,
    ) -> None:
        """Persist a batch already encoded (gzip of its wire JSON) as pending."""
        row = {
            "batch_id": str(batch_id),
            "sequence": sequence,
            "status": "pending",
            "payload": body,
            "upserts": upserts,
            "tombstones": tombstones,
            "created_at": to_db(now),
        }
        with self._scope.write("persisting a batch") as conn:
            conn.execute(outbox.insert().values(row))

    def pending(self) -> list[PendingBatch]:
        """Every unacknowledged batch, in sequence order (to resend after a restart)."""
        stmt = (
            sa.select(outbox.c.batch_id, outbox.c.sequence, outbox.c.created_at, outbox.c.payload)
            .where(outbox.c.status == "pending")
            .order_by(outbox.c.sequence)
        )
        with self._scope.read("listing pending batches") as conn:
            rows = conn.execute(stmt).all()
        return [
            PendingBatch(uuid.UUID(r.batch_id), r.sequence, from_db(r.created_at), r.payload)
            for r in rows
        ]

    def backlog(self) -> tuple[int, int]:
        """(batches, records) awaiting acknowledgement."""
        stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(outbox.c.upserts + outbox.c.tombstones), 0),
        ).where(outbox.c.status == "pending")
        with self._scope.read("counting the backlog") as conn:
            batches, records = conn.execute(stmt).one()
        return int(batches), int(records)

    def acknowledge(self, batch_id: uuid.UUID, ack: IngestAck, *, now: datetime) -> bool:
        """Apply the batch's effects to device state and close it, atomically.

        False (and nothing changed) when it was closed already: a second
        acknowledgement of the same batch is a no-op.
        """
        if ack.batch_id != batch_id:
            raise StateError(f"the acknowledgement of {ack.batch_id} was offered for {batch_id}")
        with self._scope.write("applying an acknowledgement") as conn:
            # Closing first takes the row's lock: of two concurrent
            # acknowledgements exactly one finds it pending.
            closed = conn.execute(
                outbox.update()
                .where(outbox.c.batch_id == str(batch_id), outbox.c.status == "pending")
                .values(status="acked", finished_at=to_db(now), ack=ack.model_dump(mode="json"))
                .returning(outbox.c.sequence)
            ).first()
            if closed is None:
                self._require_known(conn, batch_id, ack.sequence)
                return False
            if closed.sequence != ack.sequence:
                raise StateError(
                    f"batch {batch_id} has sequence {closed.sequence}, its acknowledgement "
                    f"says {ack.sequence}"
                )
            payload = conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.batch_id == str(batch_id))
            ).scalar_one()
            apply_effects(self._scope, conn, effects_of(payload, closed.sequence), now)
            self._finish(conn, batch_id)
        return True

    def abandon(self, batch_id: uuid.UUID, error: str, *, now: datetime) -> bool:
        """Close a batch the tenant refused for good; its records stay unacknowledged.

        Device state is untouched, so the next diff offers those records again.
        False when the batch was closed already.
        """
        with self._scope.write("abandoning a batch") as conn:
            closed = conn.execute(
                outbox.update()
                .where(outbox.c.batch_id == str(batch_id), outbox.c.status == "pending")
                .values(status="abandoned", finished_at=to_db(now), error=error)
            ).rowcount
            if not closed:
                self._require_known(conn, batch_id, None)
                return False
            self._finish(conn, batch_id)
        return True

    @staticmethod
    def _require_known(conn: sa.Connection, batch_id: uuid.UUID, sequence: int | None) -> None:
        """Raise unless the batch is (or, by its sequence, was once) in the outbox."""
        found = conn.execute(
            sa.select(outbox.c.status).where(outbox.c.batch_id == str(batch_id))
        ).first()
        oldest = conn.execute(sa.select(sa.func.min(outbox.c.sequence))).scalar()
        pruned = sequence is not None and oldest is not None and sequence < oldest
        if found is None and not pruned:
            raise UnknownBatch(
                f"the outbox holds no batch {batch_id}",
                hint="it was never persisted, or it was closed and pruned long ago",
            )

    def _finish(self, conn: sa.Connection, batch_id: uuid.UUID) -> None:
        # A closed batch's body is of no further use; its row is kept for a
        # while (for status and investigation), then pruned.
        conn.execute(outbox.update().where(outbox.c.batch_id == str(batch_id)).values(payload=None))
        cutoff = (
            sa.select(outbox.c.sequence)
            .where(outbox.c.status != "pending")
            .order_by(outbox.c.sequence.desc())
            .offset(self._retain)
            .limit(1)
            .scalar_subquery()
        )
        conn.execute(
            outbox.delete().where(outbox.c.status != "pending", outbox.c.sequence <= cutoff)
        )
