"""One sync cycle, end to end: flush, plan, upload, settle deletes, quarantine, checkpoint.

    engine = SyncEngine(reader, state, client, hierarchy_id, options)
    report = await engine.run_cycle()

Order of a cycle, and why:

1. Resend whatever the outbox still holds (a crash, a failed cycle): the diff
   must compare against an acknowledged state, so nothing of an earlier cycle
   may still travel when this one reads.
2. Plan in a worker thread (`plan.plan_cycle`): one streaming read, identity
   resolution, the diff against acknowledged hashes. A read that fails ends
   the cycle here: nothing is sent, no delete is decided, the cursor stays.
3. Build batches in that thread and persist each (sequence drawn in the same
   transaction) before the event loop uploads it, several in flight; each
   acknowledgement is checkpointed as it comes.
4. Deletes, after the upserts, through the guard (`guard.decide_deletes`).
5. Quarantine, then the cursor (the site's instance id) in one transaction,
   only when every batch of the cycle is acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from bridge.state import ConnectorState, SourceCursor
from bridge.sync.adopt import adopt_tenant_devices
from bridge.sync.batches import EncodedBatch, group
from bridge.sync.deletes import DeleteStep, tombstone_units
from bridge.sync.guard import DeleteDecision
from bridge.sync.options import CycleReport, CycleStopped, SyncOptions
from bridge.sync.plan import CyclePlan, KnownState, plan_cycle
from bridge.sync.uploader import Uploader, UploadTally, all_or_first_error
from bridge.tenant.connector import ConnectorClient
from cloud.contract.inventory import CollectionRecord
from onprem.site_reader import SiteReader
from onprem.site_store import SiteIdentity
from workloads.errors import CobridgeError

log = logging.getLogger("cobridge.sync")

SITE = "site"


def _collections_digest(collections: list[CollectionRecord]) -> str:
    blob = json.dumps([c.model_dump(mode="json") for c in collections], sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


class SyncEngine:
    """Runs cycles for one hierarchy; one cycle at a time."""

    def __init__(
        self,
        reader: SiteReader,
        state: ConnectorState,
        client: ConnectorClient,
        hierarchy_id: str,
        options: SyncOptions,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._reader = reader
        self._state = state
        self._client = client
        self._hierarchy_id = hierarchy_id
        self._options = options
        self._clock = clock
        self._stop = threading.Event()

    def stop(self) -> None:
        """Stop producing batches; what is in flight finishes (or stays pending)."""
        self._stop.set()

    async def run_cycle(self) -> CycleReport:
        """Run one cycle; never raises for a failed cycle (the report says why)."""
        started = time.perf_counter()
        cursor = await asyncio.to_thread(self._state.sources.get, SITE)
        # The site's identity first: it decides the kind the run is recorded as
        # (a restored database means a full resync), and an unreachable site is
        # a failed run that status shows, not a silence.
        identity: SiteIdentity | None = None
        failure: CobridgeError | None = None
        try:
            identity = await asyncio.to_thread(self._reader.check)
        except CobridgeError as unusable:
            failure = unusable
        instance = cursor.instance_id if cursor else None
        restored = (
            identity is not None and instance is not None and identity.instance_id != instance
        )
        report = CycleReport(
            run_id=uuid.uuid4().hex, kind="delta" if cursor and not restored else "full"
        )
        await asyncio.to_thread(
            self._state.runs.start, report.run_id, report.kind, now=self._clock()
        )
        try:
            if failure is not None:
                raise failure
            assert identity is not None
            if restored:
                log.warning(
                    "site instance changed (%s -> %s): full resync", instance, identity.instance_id
                )
            await self._cycle(report, cursor, full=restored)
        except CobridgeError as failed:
            report.outcome, report.error = "failed", str(failed)
            log.error("sync cycle %s failed: %s", report.run_id, failed)
        report.seconds = round(time.perf_counter() - started, 3)
        report.counts["seconds_ms"] = int(report.seconds * 1000)
        await asyncio.to_thread(
            self._state.runs.finish,
            report.run_id,
            report.outcome,  # type: ignore[arg-type]
            now=self._clock(),
            counts={**report.counts, **{f"situation.{k}": v for k, v in report.situations.items()}},
            error=report.error,
        )
        return report

    async def _cycle(self, report: CycleReport, cursor: SourceCursor | None, *, full: bool) -> None:
        options = self._options
        tally = UploadTally()
        uploader = Uploader(
            self._client, self._state, self._hierarchy_id, clock=self._clock, tally=tally
        )
        report.counts["resent"] = await uploader.flush_pending(options.in_flight)
        if cursor is None:
            report.counts["adopted"] = await adopt_tenant_devices(
                self._client, self._state, self._clock
            )
        started_at = self._clock()
        known = await asyncio.to_thread(lambda: KnownState.load(self._state.devices.snapshot()))
        planning = time.perf_counter()
        plan = await asyncio.to_thread(
            plan_cycle,
            self._reader,
            options.scope,
            known,
            full=full,
            spill_dir=options.spill_dir,
        )
        uploading = time.perf_counter()
        # Where a cycle's time goes, for status and benchmarks.
        report.counts["plan_ms"] = int((uploading - planning) * 1000)
        try:
            await self._upload(plan, uploader, report, cursor, known)
        finally:
            plan.close()
        report.counts["upload_ms"] = int((time.perf_counter() - uploading) * 1000)
        await asyncio.to_thread(self._settle, plan, tally, report, started_at)

    async def _upload(
        self,
        plan: CyclePlan,
        uploader: Uploader,
        report: CycleReport,
        cursor: SourceCursor | None,
        known: KnownState,
    ) -> None:
        options = self._options
        digest = _collections_digest(plan.collections)
        previous = _cursor_value(cursor, "collections") if not plan.full else None
        collections = plan.collections if digest != previous else None
        plan.collections_digest = digest
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[EncodedBatch | None] = asyncio.Queue(maxsize=options.in_flight)
        failed = threading.Event()

        def emit(batch: EncodedBatch) -> None:
            future = asyncio.run_coroutine_threadsafe(queue.put(batch), loop)
            while True:
                try:
                    future.result(timeout=0.2)
                    return
                except TimeoutError:
                    if failed.is_set() or self._stop.is_set():
                        future.cancel()
                        raise CycleStopped("the cycle stopped while batches were queued") from None

        def produce() -> DeleteDecision:
            first = collections
            for units in group(plan.units(), options.batch_size):
                self._check_stop(failed)
                emit(uploader.persist(units, first))
                first = None
            if first is not None:
                emit(uploader.persist((), first))
            deletes = DeleteStep(self._state, self._options, self._clock)
            decision = deletes.decide(plan, known)
            for units in group(tombstone_units(decision.send), options.batch_size):
                self._check_stop(failed)
                emit(deletes.persist(uploader, units, decision))
            return decision

        async def consume() -> None:
            while (batch := await queue.get()) is not None:
                await uploader.send(batch)

        workers = [asyncio.create_task(consume()) for _ in range(options.in_flight)]
        producer = asyncio.create_task(asyncio.to_thread(produce))
        try:
            await self._until_produced(producer, workers)
            stopped = producer.exception()
            if stopped is not None and not isinstance(stopped, CycleStopped):
                raise stopped
            # Stopping (SIGTERM) still lets the batches in flight finish.
            for _ in workers:
                await queue.put(None)
            await all_or_first_error(workers)
            if stopped is not None:
                raise stopped
        except BaseException:
            failed.set()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(producer, *workers, return_exceptions=True)
            raise
        self._record(plan, producer.result(), report)

    @staticmethod
    async def _until_produced(
        producer: asyncio.Future[object], workers: list[asyncio.Task[None]]
    ) -> None:
        """Wait for the producer to end; raise at once if an upload fails first."""
        waiting: set[asyncio.Future[object]] = {producer, *workers}
        while not producer.done():
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not producer and not task.cancelled() and task.exception():
                    raise task.exception()  # type: ignore[misc]

    def _check_stop(self, failed: threading.Event) -> None:
        if self._stop.is_set() or failed.is_set():
            raise CycleStopped("the cycle stopped before all batches were built")

    def _record(self, plan: CyclePlan, decision: DeleteDecision, report: CycleReport) -> None:
        report.situations = plan.resolver.counts()
        report.counts.update(
            records=plan.records,
            unchanged=plan.unchanged,
            uploads=plan.uploads,
            supersessions=plan.supersessions,
            rejected=len(plan.rejects),
            disputed=len(plan.disputes),
            deletes_sent=len(decision.send),
            deletes_held=len(decision.hold),
            deletes_weighed=decision.would_delete,
            complete=int(plan.complete),
        )

    def _settle(
        self, plan: CyclePlan, tally: UploadTally, report: CycleReport, started_at: datetime
    ) -> None:
        state = self._state
        now = self._clock()
        state.quarantine.put(SITE, plan.rejects, now=started_at)
        state.quarantine.put("identity", plan.disputes, now=started_at)
        state.quarantine.put("cloud", tally.refused, now=started_at)
        if plan.complete:
            for source in (SITE, "identity", "cloud"):
                state.quarantine.clear(source, not_seen_since=started_at)
        report.counts.update(
            batches=tally.batches,
            acknowledged=tally.acknowledged,
            replayed=tally.replayed,
            upserted=tally.upserted,
            tombstoned=tally.tombstoned,
            stale=tally.stale,
            refused=len(tally.refused),
            abandoned=tally.abandoned,
        )
        if not plan.complete:
            report.outcome, report.error = "partial", "the site read did not complete"
            return
        with state.transaction() as tx:
            tx.sources.save(
                SITE,
                plan.identity.instance_id,
                json.dumps({"collections": plan.collections_digest}),
                now=now,
            )
        report.outcome = "ok"


def _cursor_value(cursor: SourceCursor | None, key: str) -> str | None:
    text = cursor.cursor if cursor else None
    if not text:
        return None
    try:
        return json.loads(text).get(key)
    except (ValueError, AttributeError):
        return None
