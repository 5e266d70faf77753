"""A cycle's deletes: the guard's decision applied to the held deletes, and their batches."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

from bridge.state.deletes import HeldDeletes
from bridge.state.devices import DeviceStates
from bridge.sync.batches import EncodedBatch, Unit, tombstone_json
from bridge.sync.guard import DeleteDecision, decide_deletes
from bridge.sync.plan import CyclePlan, KnownState
from bridge.sync.uploader import Uploader

log = logging.getLogger("cobridge.sync")

DELETED_AT_SOURCE = "deleted_at_source"


class GuardLimits(Protocol):
    """The delete guard's limits (`SyncOptions`)."""

    delete_guard_count: int
    delete_guard_percent: float


def tombstone_units(smsids: list[str]) -> Iterator[Unit]:
    """One unit per delete (reason `deleted_at_source`)."""
    for smsid in smsids:
        yield Unit(tombstones=(tombstone_json(smsid, DELETED_AT_SOURCE),))


class DeleteStep:
    """Decides a cycle's deletes through the guard and persists their batches."""

    def __init__(
        self,
        deletes: HeldDeletes,
        devices: DeviceStates,
        limits: GuardLimits,
        clock: Callable[[], datetime],
    ) -> None:
        self._deletes = deletes
        self._devices = devices
        self._limits = limits
        self._clock = clock

    def decide(self, plan: CyclePlan, known: KnownState) -> DeleteDecision:
        """The guard's decision; holds, discards and returned releases recorded now."""
        deletes = self._deletes
        decision = decide_deletes(
            plan.deletes(),
            complete=plan.complete,
            held=[h.smsid for h in deletes.held()],
            released=[r.smsid for r in deletes.released()],
            holdings=len(known.hashes),
            count_limit=self._limits.delete_guard_count,
            percent_limit=self._limits.delete_guard_percent,
        )
        now = self._clock()
        if decision.discard:
            deletes.discard(decision.discard, now=now)
        if decision.returned:
            deletes.settle([], decision.returned)
        if decision.hold:
            names = self._devices.known(decision.hold)
            items = [(s, names[s].name if s in names else None) for s in decision.hold]
            deletes.hold(f"cycle-{now:%Y%m%dT%H%M%SZ}", items, now=now)
            log.warning(
                "delete guard: %d delete(s) held until an admin releases them "
                "(cobridge connector release-deletes)",
                len(decision.hold),
            )
        return decision

    def persist(
        self, uploader: Uploader, units: tuple[Unit, ...], decision: DeleteDecision
    ) -> EncodedBatch:
        """Persist one batch of tombstones; released ones are marked sent in its transaction."""
        applied = set(decision.applied)
        sent = [json.loads(t)["smsid"] for u in units for t in u.tombstones]
        released = [s for s in sent if s in applied]
        return uploader.persist(units, also=lambda tx: tx.deletes.settle(released, []))
