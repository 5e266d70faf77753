"""Device state: what the tenant has acknowledged of each device, for diffing.

Rows are written only by `Outbox.acknowledge`, from the batch the tenant
acknowledged, so this table is the connector's view of the tenant and
nothing else. Several batches travel at once and may be acknowledged out of
order: a row only moves forward in sequence, as the tenant's rows do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bridge.state.schema import devices
from bridge.state.scope import Scope, chunks, from_db, insert_for, to_db

# Rows fetched per round trip when streaming hashes.
STREAM_CHUNK = 1000


@dataclass(frozen=True)
class DeviceState:
    """One device as the tenant last acknowledged it."""

    smsid: str
    resource_id: int
    content_hash: str
    name: str
    aad_device_id: str | None
    serial: str | None
    model: str | None
    acked_sequence: int
    tombstoned: bool
    updated_at: datetime


class DeviceStates:
    """Bulk reads of acknowledged device state."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def hashes(self) -> Iterator[tuple[str, str]]:
        """(smsid, content_hash) of every live (not tombstoned) device, by SMSID, streamed.

        A tombstoned device is left out, so one that comes back is new to a diff.
        """
        stmt = (
            sa.select(devices.c.smsid, devices.c.content_hash)
            .where(devices.c.tombstoned.is_(False))
            .order_by(devices.c.smsid)
        )
        with self._scope.read("streaming device hashes") as conn:
            # A server-side cursor on PostgreSQL; SQLite's cursor is lazy already.
            options = {"yield_per": STREAM_CHUNK} if conn.dialect.name == "postgresql" else {}
            result = conn.execution_options(**options).execute(stmt)
            for partition in result.partitions(STREAM_CHUNK):
                yield from ((smsid, digest) for smsid, digest in partition)

    def snapshot(self) -> Iterator[DeviceState]:
        """Every device row, tombstoned included, streamed (a cycle's view of the tenant)."""
        with self._scope.read("streaming device state") as conn:
            options = {"yield_per": STREAM_CHUNK} if conn.dialect.name == "postgresql" else {}
            result = conn.execution_options(**options).execute(sa.select(devices))
            for partition in result.partitions(STREAM_CHUNK):
                for row in partition:
                    values = row._asdict()
                    values["updated_at"] = from_db(row.updated_at)
                    yield DeviceState(**values)

    def known(self, smsids: Iterable[str]) -> dict[str, DeviceState]:
        """The acknowledged state of those of `smsids` the store knows, tombstoned included."""
        wanted = list(dict.fromkeys(smsids))
        found: dict[str, DeviceState] = {}
        with self._scope.read("reading device state") as conn:
            for chunk in chunks(wanted):
                rows = conn.execute(sa.select(devices).where(devices.c.smsid.in_(chunk)))
                for row in rows:
                    values = row._asdict()
                    values["updated_at"] = from_db(row.updated_at)
                    found[row.smsid] = DeviceState(**values)
        return found

    def adopt(self, rows: Iterable[dict[str, Any]], *, now: datetime) -> int:
        """Take devices the tenant holds as acknowledged (a new state store); how many.

        Each row has this table's device columns and `acked_sequence`. A device
        the store already knows is left as it is.
        """
        extra = {"tombstoned": False, "updated_at": to_db(now)}
        adopted = 0
        batch: list[dict[str, Any]] = []
        with self._scope.write("adopting the tenant's devices") as conn:
            for row in rows:
                batch.append({**row, **extra})
                if len(batch) >= STREAM_CHUNK:
                    adopted += self._adopt(conn, batch)
                    batch = []
            if batch:
                adopted += self._adopt(conn, batch)
        return adopted

    def _adopt(self, conn: sa.Connection, batch: list[dict[str, Any]]) -> int:
        stmt = insert_for(self._scope, devices).on_conflict_do_nothing(index_elements=["smsid"])
        return int(conn.execute(stmt, batch).rowcount or 0)

    def count(self, *, include_tombstoned: bool = False) -> int:
        """How many devices the tenant holds for this connector (the delete guard's base)."""
        stmt = sa.select(sa.func.count()).select_from(devices)
        if not include_tombstoned:
            stmt = stmt.where(devices.c.tombstoned.is_(False))
        with self._scope.read("counting devices") as conn:
            return int(conn.execute(stmt).scalar_one())


@dataclass(frozen=True)
class BatchEffects:
    """What acknowledging one batch changes in device state."""

    sequence: int
    upserts: list[dict[str, Any]]  # device columns of this table, smsid included
    tombstones: list[str]  # SMSIDs


def apply_effects(scope: Scope, conn: sa.Connection, effects: BatchEffects, now: datetime) -> None:
    """Record a batch's upserts and tombstones as acknowledged, on the caller's transaction."""
    apply_upserts(scope, conn, effects, now)
    apply_tombstones(conn, effects, now)


def apply_upserts(scope: Scope, conn: sa.Connection, effects: BatchEffects, now: datetime) -> None:
    """Record upserts as acknowledged, unless a newer batch already wrote those devices."""
    if not effects.upserts:
        return
    # The last of duplicates wins, as at the tenant.
    latest = {u["smsid"]: u for u in effects.upserts}
    extra = {"acked_sequence": effects.sequence, "tombstoned": False, "updated_at": to_db(now)}
    rows = [{**u, **extra} for u in latest.values()]
    stmt = insert_for(scope, devices)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["smsid"],
            set_={c: stmt.excluded[c] for c in rows[0] if c != "smsid"},
            where=devices.c.acked_sequence <= stmt.excluded.acked_sequence,
        ),
        rows,
    )


def apply_tombstones(conn: sa.Connection, effects: BatchEffects, now: datetime) -> None:
    """Mark tombstones as acknowledged; an unknown device stays unknown.

    The tenant ignores a tombstone for a device it does not hold, so nothing
    is recorded for one here either.
    """
    for chunk in chunks(list(dict.fromkeys(effects.tombstones))):
        conn.execute(
            devices.update()
            .where(devices.c.smsid.in_(chunk), devices.c.acked_sequence <= effects.sequence)
            .values(tombstoned=True, acked_sequence=effects.sequence, updated_at=to_db(now))
        )
