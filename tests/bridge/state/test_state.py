"""Contract tests of the connector's state store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import bridge.state.devices as devices_module
from bridge.state import (
    ConnectorState,
    CursorAhead,
    StateConfigError,
    StateError,
    StateTransaction,
    UnknownBatch,
    create_state_engine,
    state_schema_revision,
    state_url,
)
from bridge.state.engine import VERSION_TABLE, _alembic_config
from bridge.state.schema import devices, state_metadata
from cloud.contract.inventory import DeviceRecord, IngestAck, IngestBatch, Tombstone
from onprem.site_records import RejectedRecord
from tests.support.pg import throwaway_pg_database

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'connector-state.db'}"
    else:
        with throwaway_pg_database("cobridge_state") as url:
            yield url.render_as_string(hide_password=False)


@pytest.fixture
def state(db_url: str, tmp_path: Path) -> Iterator[ConnectorState]:
    """A migrated, empty connector state."""
    with ConnectorState.open(db_url, data_dir=tmp_path) as opened:
        yield opened


def reopen(db_url: str, tmp_path: Path) -> ConnectorState:
    """A second process on the same database: what a restart after `kill -9` sees."""
    return ConnectorState.open(db_url, data_dir=tmp_path)


def smsid(n: int) -> str:
    return f"GUID:{n:08X}-0000-4000-8000-{n:012X}"


def record(n: int, content: str = "a") -> DeviceRecord:
    return DeviceRecord(
        smsid=smsid(n),
        resource_id=16777216 + n,
        name=f"WKS-{n:05d}",
        serial_number=f"SN{n}",
        content_hash=f"{content}-hash-{n:04d}",
    )


def batch(seq: int, upserts: list[DeviceRecord], tombstones: tuple[int, ...] = ()) -> IngestBatch:
    return IngestBatch(
        batch_id=uuid.uuid4(),
        hierarchy_id="hier-ps1",
        sequence=seq,
        upserts=upserts,
        tombstones=[Tombstone(smsid=smsid(n)) for n in tombstones],
    )


def ack_of(b: IngestBatch) -> IngestAck:
    return IngestAck(
        batch_id=b.batch_id,
        sequence=b.sequence,
        upserted=len(b.upserts),
        unchanged=0,
        tombstoned=len(b.tombstones),
        stale=0,
        received_at=T0,
    )


def send(
    state: ConnectorState, upserts: list[DeviceRecord], tombstones: tuple[int, ...] = ()
) -> IngestBatch:
    """The whole protocol for one batch: draw, persist, (send), acknowledge."""
    b = batch(state.sequences.next(), upserts, tombstones)
    state.outbox.put(b, now=T0)
    assert state.outbox.acknowledge(b.batch_id, ack_of(b), now=T0)
    return b


class Crash(Exception):
    """The process dying before its transaction commits."""


def crash_after(state: ConnectorState, *steps: Callable[[StateTransaction], object]) -> None:
    """Run `steps` in one transaction, then die before it commits."""
    with state.transaction() as tx:
        for step in steps:
            step(tx)
        raise Crash


def snapshot(state: ConnectorState) -> dict:
    return {s: (d.content_hash, d.acked_sequence, d.tombstoned) for s, d in _all(state).items()}


def _all(state: ConnectorState) -> dict:
    with state.engine.connect() as conn:
        every = conn.execute(sa.select(devices.c.smsid)).scalars().all()
    return state.devices.known(every)


def test_migration_creates_exactly_the_metadata(db_url: str, tmp_path: Path) -> None:
    engine = create_state_engine(state_url(db_url, tmp_path))
    try:
        assert state_schema_revision(engine) is None
        ConnectorState.open(db_url, data_dir=tmp_path).close()
        with engine.connect() as conn:
            head = ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()
            assert head is not None
            assert state_schema_revision(engine) == head
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, state_metadata) == []
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "base")
        with engine.connect() as conn:
            left = set(sa.inspect(conn).get_table_names())
        assert left <= {VERSION_TABLE}
    finally:
        engine.dispose()


def test_state_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    assert state_url(None, tmp_path).database == str((tmp_path / "connector-state.db").resolve())
    assert state_url("postgres://u@h/db", tmp_path).drivername == "postgresql+psycopg"
    with pytest.raises(StateConfigError, match="mysql"):
        state_url("mysql://u@h/db", tmp_path)
    with pytest.raises(StateConfigError, match="cannot parse"):
        state_url("postgresql://u@h:port/db", tmp_path)


def test_sequence_never_repeats_across_a_crash(db_url: str, tmp_path: Path) -> None:
    first = reopen(db_url, tmp_path)
    drawn = [first.sequences.next() for _ in range(3)]
    with pytest.raises(Crash):
        crash_after(first, lambda tx: tx.sequences.next())
    first.outbox.put(batch(drawn[-1], [record(1)]), now=T0)
    # No close: the process is gone; a new one opens the same database.
    second = reopen(db_url, tmp_path)
    seen: list[int] = []

    def draw() -> None:
        seen.extend(second.sequences.next() for _ in range(20))

    workers = [threading.Thread(target=draw) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(set(seen)) == 80
    assert min(seen) > max(drawn)
    second.sequences.raise_to(10_000)
    second.sequences.raise_to(5)  # never lowers
    assert second.sequences.next() == 10_001
    first.close()
    second.close()


def test_pending_batch_survives_restart_and_a_second_ack_changes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    first = reopen(db_url, tmp_path)
    send(first, [record(1), record(2)])
    b = batch(first.sequences.next(), [record(1, "b"), record(3)], tombstones=(2,))
    first.outbox.put(b, now=T0)
    before = snapshot(first)

    with reopen(db_url, tmp_path) as second:
        [pending] = second.outbox.pending()
        assert (pending.batch_id, pending.sequence) == (b.batch_id, b.sequence)
        assert pending.batch == b
        assert snapshot(second) == before  # nothing applied before the ack
        assert second.outbox.acknowledge(b.batch_id, ack_of(b), now=T0 + TTL)
        after = snapshot(second)
        assert after == {
            smsid(1): ("b-hash-0001", b.sequence, False),
            smsid(2): ("a-hash-0002", b.sequence, True),
            smsid(3): ("a-hash-0003", b.sequence, False),
        }
        assert not second.outbox.acknowledge(b.batch_id, ack_of(b), now=T0 + 2 * TTL)
        assert snapshot(second) == after
        assert second.outbox.pending() == []
        stranger = b.model_copy(update={"batch_id": uuid.uuid4(), "sequence": 10**6})
        with pytest.raises(UnknownBatch):
            second.outbox.acknowledge(stranger.batch_id, ack_of(stranger), now=T0)
    first.close()


def test_acknowledge_is_atomic(state: ConnectorState, monkeypatch: pytest.MonkeyPatch) -> None:
    send(state, [record(1), record(2)])
    b = batch(state.sequences.next(), [record(1, "b")], tombstones=(2,))
    state.outbox.put(b, now=T0)
    before = snapshot(state)
    written: list[str] = []

    def fail(conn: sa.Connection, *_args: object) -> None:
        # The upserts are in the transaction already; then the disk goes.
        written.append(
            conn.execute(
                sa.select(devices.c.content_hash).where(devices.c.smsid == smsid(1))
            ).scalar_one()
        )
        raise RuntimeError("disk gone after the upserts were written")

    monkeypatch.setattr(devices_module, "apply_tombstones", fail)
    with pytest.raises(RuntimeError):
        state.outbox.acknowledge(b.batch_id, ack_of(b), now=T0)
    assert written == ["b-hash-0001"]
    assert snapshot(state) == before
    assert [p.batch_id for p in state.outbox.pending()] == [b.batch_id]
    monkeypatch.undo()
    # Grouped with a later step that fails: the acknowledgement rolls back too.
    with pytest.raises(Crash):
        crash_after(state, lambda tx: tx.outbox.acknowledge(b.batch_id, ack_of(b), now=T0))
    assert snapshot(state) == before
    assert state.outbox.acknowledge(b.batch_id, ack_of(b), now=T0)
    assert snapshot(state)[smsid(1)][0] == "b-hash-0001"


def test_out_of_order_acks_never_move_a_device_back(state: ConnectorState) -> None:
    older = batch(state.sequences.next(), [record(1, "old")])
    newer = batch(state.sequences.next(), [record(1, "new")], tombstones=(9,))
    for b in (older, newer):
        state.outbox.put(b, now=T0)
    for b in (newer, older):
        assert state.outbox.acknowledge(b.batch_id, ack_of(b), now=T0)
    assert snapshot(state) == {smsid(1): ("new-hash-0001", newer.sequence, False)}
    assert list(state.devices.hashes()) == [(smsid(1), "new-hash-0001")]
    b = batch(state.sequences.next(), [record(2)])
    state.outbox.put(b, now=T0)
    wrong = ack_of(b).model_copy(update={"sequence": 1})
    with pytest.raises(StateError, match="sequence"):
        state.outbox.acknowledge(b.batch_id, wrong, now=T0)


def test_abandoned_batch_leaves_state_alone(state: ConnectorState) -> None:
    b = batch(state.sequences.next(), [record(1)])
    state.outbox.put(b, now=T0)
    assert state.outbox.abandon(b.batch_id, "422 invalid record", now=T0)
    assert not state.outbox.abandon(b.batch_id, "again", now=T0)
    assert not state.outbox.acknowledge(b.batch_id, ack_of(b), now=T0)
    assert state.outbox.pending() == []
    assert snapshot(state) == {}
    with pytest.raises(UnknownBatch):
        state.outbox.abandon(uuid.uuid4(), "never persisted", now=T0)


def test_closed_batches_are_pruned_after_the_retention_count(db_url: str, tmp_path: Path) -> None:
    with ConnectorState.open(db_url, data_dir=tmp_path, retain_batches=2) as small:
        sent = [send(small, [record(n)]) for n in range(5)]
        waiting = batch(small.sequences.next(), [record(9)])
        small.outbox.put(waiting, now=T0)
        with small.engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT sequence FROM connector_outbox")).scalars()
            assert sorted(kept) == [sent[3].sequence, sent[4].sequence, waiting.sequence]
        # A late duplicate acknowledgement of a pruned batch is still a no-op.
        assert not small.outbox.acknowledge(sent[0].batch_id, ack_of(sent[0]), now=T0)


def test_cursor_commits_with_the_state_it_covers(state: ConnectorState) -> None:
    b = batch(state.sequences.next(), [record(1)])
    state.outbox.put(b, now=T0)
    with pytest.raises(StateError, match="inside the transaction"):
        state.sources.save("site", "inst-1", "c1", now=T0)
    with pytest.raises(CursorAhead), state.transaction() as tx:
        tx.sources.save("site", "inst-1", "c1", now=T0)
    # The directory's records do not go through the outbox: its cursor is not held back.
    with state.transaction() as tx:
        tx.sources.save("directory", "dc-1|inv-1", "cookie", now=T0)
    assert state.sources.get("directory") is not None
    with pytest.raises(Crash):
        crash_after(
            state,
            lambda tx: tx.outbox.acknowledge(b.batch_id, ack_of(b), now=T0),
            lambda tx: tx.sources.save("site", "inst-1", "c1", now=T0),
        )
    assert state.sources.get("site") is None
    assert snapshot(state) == {}
    with state.transaction() as tx:
        tx.outbox.acknowledge(b.batch_id, ack_of(b), now=T0)
        tx.sources.save("site", "inst-1", "c1", now=T0)
    cursor = state.sources.get("site")
    assert cursor is not None
    assert (cursor.instance_id, cursor.cursor, cursor.updated_at) == ("inst-1", "c1", T0)
    assert smsid(1) in snapshot(state)


def test_instance_change_forces_a_full_sync(state: ConnectorState) -> None:
    assert state.sources.instance_changed("site", "srv/CM_PS1/a/b")  # nothing recorded yet
    with state.transaction() as tx:
        tx.sources.save("site", "srv/CM_PS1/a/b", None, now=T0)
    assert not state.sources.instance_changed("site", "srv/CM_PS1/a/b")
    assert state.sources.instance_changed("site", "srv/CM_PS1/a/RESTORED")
    assert state.sources.instance_changed("directory", "srv/CM_PS1/a/b")


def test_quarantine_upserts_clears_and_counts(state: ConnectorState) -> None:
    def bad(rid: int | None, reason: str, name: str | None = "WKS") -> RejectedRecord:
        return RejectedRecord(
            resource_id=rid,
            smsid="GUID:bad\x00",
            name=name,
            reason=reason,
            column="Name0",
            detail="x",
        )

    state.quarantine.put(
        "site", [bad(1, "empty_name"), bad(2, "nul_byte"), bad(3, "nul_byte")], now=T0
    )
    later = T0 + timedelta(minutes=5)
    state.quarantine.put(
        "site", [bad(1, "overlong_name"), bad(None, "invalid_guid", "X" * 300)], now=later
    )
    assert state.quarantine.counts() == {"overlong_name": 1, "nul_byte": 2, "invalid_guid": 1}
    first = {e.key: e for e in state.quarantine.entries("site")}
    assert (first["rid:1"].first_seen, first["rid:1"].last_seen) == (T0, later)
    assert first["rid:1"].reason == "overlong_name"
    assert "\x00" not in (first["rid:2"].smsid or "")
    assert state.quarantine.clear("site", keys=["rid:2"]) == 1
    assert state.quarantine.counts("site") == {"overlong_name": 1, "nul_byte": 1, "invalid_guid": 1}
    # After a complete read at `later`, what was not seen again is gone or valid.
    assert state.quarantine.clear("site", not_seen_since=later) == 1
    assert state.quarantine.counts() == {"overlong_name": 1, "invalid_guid": 1}
    assert state.quarantine.counts("directory") == {}


def test_held_deletes_release_is_audited(state: ConnectorState) -> None:
    assert state.deletes.hold("cycle-1", [(smsid(n), f"WKS-{n}") for n in range(3)], now=T0) == 3
    assert state.deletes.hold("cycle-2", [(smsid(n), None) for n in range(2, 5)], now=T0) == 2
    assert {d.smsid for d in state.deletes.held("cycle-1")} == {smsid(0), smsid(1), smsid(2)}
    assert state.deletes.discard([smsid(1)], now=T0) == 1  # it came back
    later = T0 + timedelta(hours=1)
    with state.transaction() as tx:
        released = tx.deletes.release("admin@contoso", now=later, cycle_id="cycle-1")
    assert [(d.smsid, d.status, d.resolved_by, d.resolved_at) for d in released] == [
        (smsid(0), "released", "admin@contoso", later),
        (smsid(2), "released", "admin@contoso", later),
    ]
    assert {d.smsid for d in state.deletes.held()} == {smsid(3), smsid(4)}
    assert state.deletes.release("admin@contoso", now=later, cycle_id="cycle-1") == []
    assert len(state.deletes.release("ops", now=later)) == 2
    assert state.deletes.held() == []


def test_sync_runs_history(state: ConnectorState) -> None:
    state.runs.start("r1", "full", now=T0)
    state.runs.start("r2", "delta", now=T0 + TTL)  # r1 was cut short by a crash
    assert state.runs.finish("r2", "ok", now=T0 + 2 * TTL, counts={"upserted": 5})
    assert not state.runs.finish("r2", "failed", now=T0 + 3 * TTL)
    latest = state.runs.latest()
    assert latest is not None
    assert (latest.run_id, latest.outcome, latest.counts) == ("r2", "ok", {"upserted": 5})
    full = state.runs.latest("full")
    assert full is not None
    assert (full.outcome, full.finished_at) == ("failed", T0 + TTL)
    assert [r.run_id for r in state.runs.recent()] == ["r2", "r1"]


def test_lease_one_holder_expiry_hands_over(state: ConnectorState) -> None:
    assert state.lease.try_acquire("a", TTL, now=T0)
    assert not state.lease.try_acquire("b", TTL, now=T0 + TTL / 2)
    assert not state.lease.renew("b", TTL, now=T0)
    assert state.lease.renew("a", TTL, now=T0 + TTL / 2)  # now until T0 + 1.5 TTL
    assert not state.lease.try_acquire("b", TTL, now=T0 + TTL)
    assert state.lease.try_acquire("b", TTL, now=T0 + 2 * TTL)
    assert not state.lease.renew("a", TTL, now=T0 + 2 * TTL)
    lease = state.lease.current()
    assert lease is not None
    assert (lease.holder, lease.token) == ("b", 2)
    assert lease.held_by("b", T0 + 2 * TTL)
    assert not lease.held_by("a", T0 + 2 * TTL)
    assert not state.lease.release("a")
    assert state.lease.release("b")
    assert state.lease.try_acquire("a", TTL, now=T0 + 2 * TTL)


def test_lease_take_over_is_a_compare_and_swap_on_the_holder(state: ConnectorState) -> None:
    assert state.lease.try_acquire("host:101:aa", TTL, now=T0)
    # Only from the holder named: a stale view of who held it takes nothing.
    assert not state.lease.take_over("host:99:zz", "host:202:bb", TTL, now=T0)
    assert state.lease.take_over("host:101:aa", "host:202:bb", TTL, now=T0)
    assert not state.lease.take_over("host:101:aa", "host:303:cc", TTL, now=T0)
    lease = state.lease.current()
    assert lease is not None
    assert (lease.holder, lease.token) == ("host:202:bb", 2)
    assert not state.lease.renew("host:101:aa", TTL, now=T0)


def _contend(
    state: ConnectorState, holder: str, now: datetime, start: threading.Barrier, won: list[str]
) -> None:
    start.wait()
    try:
        if state.lease.try_acquire(holder, TTL, now=now):
            won.append(holder)
    except Exception as exc:  # a contender that errors must fail the test, not vanish
        won.append(f"{holder} raised {exc!r}")


def test_lease_race_between_processes_has_one_winner(db_url: str, tmp_path: Path) -> None:
    contenders = [reopen(db_url, tmp_path) for _ in range(6)]
    try:
        for round_ in range(4):
            now = T0 + round_ * 2 * TTL  # every earlier lease has expired
            barrier = threading.Barrier(len(contenders))
            won: list[str] = []
            threads = [
                threading.Thread(target=_contend, args=(c, f"node-{i}", now, barrier, won))
                for i, c in enumerate(contenders)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(won) == 1, won
    finally:
        for c in contenders:
            c.close()


def test_hashes_stream_20k_devices(state: ConnectorState) -> None:
    rows = [
        {
            "smsid": smsid(n),
            "resource_id": n,
            "content_hash": f"{n:064x}",
            "name": f"WKS-{n}",
            "acked_sequence": 1,
            "tombstoned": n % 100 == 0,
            "updated_at": T0.replace(tzinfo=None),
        }
        for n in range(20_000)
    ]
    with state.engine.begin() as conn:
        conn.execute(devices.insert(), rows)
    hashes = state.devices.hashes()
    assert isinstance(hashes, Iterator)
    assert sum(1 for _ in hashes) == 19_800  # and statement caches are warm now
    tracemalloc.start()
    try:
        streamed = sum(1 for _ in state.devices.hashes())
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        listed = list(state.devices.hashes())
        _, list_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert streamed == len(listed) == 19_800
    assert listed == sorted(listed)
    assert streaming_peak < list_peak / 3, (streaming_peak, list_peak)
    assert state.devices.count() == 19_800
    assert state.devices.count(include_tombstoned=True) == 20_000
