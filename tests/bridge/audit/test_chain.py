"""The audit chain on SQLite and PostgreSQL: append, verify, and tampering named at its entry.

Tampering is done the way someone with database access would: statements
straight against the table, never through the chain's code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from bridge.audit import (
    GENESIS,
    AuditEvent,
    AuditSigner,
    append,
    load_signer,
    read_chain,
    verify_state,
)
from bridge.audit.keys import sign_hash
from bridge.state import ConnectorState
from bridge.state.schema import audit_log, audit_signers
from tests.support.pg import throwaway_pg_database

T0 = datetime(2026, 11, 1, 8, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'connector-state.db'}"
    else:
        with throwaway_pg_database("cobridge_audit") as url:
            yield url.render_as_string(hide_password=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The connector's data directory (its keys)."""
    return tmp_path / "connector"


@pytest.fixture
def state(db_url: str, data_dir: Path) -> Iterator[ConnectorState]:
    """A migrated, empty connector state."""
    with ConnectorState.open(db_url, data_dir=data_dir) as opened:
        yield opened


def event(n: int, **extra: object) -> AuditEvent:
    """A distinguishable event."""
    return AuditEvent(
        actor=f"cli:admin{n % 2}",
        action="workload.set",
        target="compliancePolicy",
        details={"n": n, "slider": "cloud", "note": "naïve ✓", **extra},
    )


def fill(state: ConnectorState, data_dir: Path, count: int) -> list[str]:
    """`count` entries, a second apart; their hashes."""
    signer = load_signer(data_dir)
    return [
        append(state, signer, event(n), now=T0 + timedelta(seconds=n)).entry_hash
        for n in range(1, count + 1)
    ]


def tamper(state: ConnectorState, *statements: sa.Executable) -> None:
    """Run statements against the store directly, in one transaction."""
    with state.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def problem_of(state: ConnectorState, data_dir: Path, **kwargs: str) -> tuple[int, str, str]:
    """The first problem verify names: (entry, kind, message)."""
    report = verify_state(state, data_dir, **kwargs)
    assert report.problem is not None, report
    return report.problem.seq, report.problem.kind, report.problem.message


def test_entries_chain_from_genesis_and_verify(state: ConnectorState, data_dir: Path) -> None:
    signer = load_signer(data_dir)
    assert (signer.kind, (data_dir / "audit.key").stat().st_mode & 0o777) == ("local", 0o600)
    hashes = fill(state, data_dir, 4)
    planned = append(
        state,
        signer,
        AuditEvent("rollout:r1", "rollout.wave-started", "wave 1", {"wave": 1}, "ab" * 32),
        now=T0 + timedelta(minutes=1),
    )
    entries, signers = read_chain(state)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in entries] == [GENESIS, *hashes]
    assert entries[0].at == T0 + timedelta(seconds=1)
    assert entries[0].details == {"n": 1, "slider": "cloud", "note": "naïve ✓"}
    assert entries[-1].plan_hash == "ab" * 32
    assert {e.signer for e in entries} == {signer.fingerprint} == set(signers)
    assert all(e.computed_hash() == e.entry_hash for e in entries)

    report = verify_state(state, data_dir)
    assert report.ok, report.describe()
    assert (report.count, report.head_seq, report.head_hash) == (5, 5, planned.entry_hash)
    assert report.describe() == f"ok: 5 entries, head entry 5 {planned.entry_hash}"
    [summary] = report.signers
    assert (summary.kind, summary.entries) == ("local", 5)
    assert summary.trusted_because == "this host's local audit key"


def test_an_empty_log_verifies(state: ConnectorState, data_dir: Path) -> None:
    report = verify_state(state, data_dir)
    assert (report.ok, report.count, report.head_hash) == (True, 0, None)


def test_append_commits_and_rolls_back_with_the_callers_transaction(
    state: ConnectorState, data_dir: Path
) -> None:
    signer = load_signer(data_dir)
    state.deletes.hold("c1", [("GUID:A", "WKS-A")], now=T0)

    def fail_after_appending() -> None:
        with state.transaction() as tx:
            tx.deletes.release("ops", now=T0, cycle_id="c1")
            append(tx, signer, event(1), now=T0)
            raise RuntimeError("the change fails after its entry was appended")

    with pytest.raises(RuntimeError):
        fail_after_appending()
    assert state.audit.head() is None
    assert [d.smsid for d in state.deletes.held()] == ["GUID:A"]
    with state.transaction() as tx:
        tx.deletes.release("ops", now=T0, cycle_id="c1")
        entry = append(tx, signer, event(1), now=T0)
    assert state.audit.head().entry_hash == entry.entry_hash  # type: ignore[union-attr]
    assert state.deletes.held() == []


def test_bad_events_are_refused_with_the_reason(state: ConnectorState, data_dir: Path) -> None:
    signer = load_signer(data_dir)
    with pytest.raises(ValueError, match="plain JSON"):
        append(state, signer, AuditEvent("a", "x.y", "t", {"when": T0}), now=T0)
    with pytest.raises(ValueError, match="1 to 64"):
        append(state, signer, AuditEvent("a", "", "t"), now=T0)
    long = append(state, signer, AuditEvent("a" * 300, "x.y", "t\x00" * 300), now=T0)
    assert (len(long.actor), len(long.target), "\x00" in long.target) == (255, 512, False)
    assert verify_state(state, data_dir).ok


def test_concurrent_appenders_never_fork_the_chain(db_url: str, data_dir: Path) -> None:
    """Four writers, each with its own engine (as separate processes would be), at once."""
    writers, each = 4, 15
    stores = [ConnectorState.open(db_url, data_dir=data_dir) for _ in range(writers)]
    signer = load_signer(data_dir)
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(store: ConnectorState, w: int) -> None:
        try:
            start.wait()
            for n in range(each):
                append(store, signer, event(w * 100 + n), now=datetime.now(UTC))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(s, w)) for w, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert failures == []
    with ConnectorState.open(db_url, data_dir=data_dir) as state:
        entries, _ = read_chain(state)
        report = verify_state(state, data_dir)
    assert report.ok, report.describe()
    assert [e.seq for e in entries] == list(range(1, writers * each + 1))
    assert sorted(e.details["n"] for e in entries) == sorted(
        w * 100 + n for w in range(writers) for n in range(each)
    )


def test_an_edited_entry_is_named(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 20)
    tamper(
        state,
        audit_log.update()
        .where(audit_log.c.seq == 17)
        .values(details='{"n":17,"slider":"configmgr","note":"naïve ✓"}'),
    )
    assert problem_of(state, data_dir) == (
        17,
        "edited",
        "entry 17 was edited: its content does not match its hash",
    )


def test_an_edited_actor_or_time_is_named(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 5)
    tamper(state, audit_log.update().where(audit_log.c.seq == 2).values(actor="cli:someone"))
    assert problem_of(state, data_dir)[:2] == (2, "edited")
    tamper(
        state,
        audit_log.update().where(audit_log.c.seq == 2).values(actor="cli:admin0"),
        audit_log.update()
        .where(audit_log.c.seq == 4)
        .values(at=(T0 + timedelta(hours=1)).replace(tzinfo=None)),
    )
    assert problem_of(state, data_dir)[:2] == (4, "edited")


def test_a_removed_middle_entry_is_named(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 20)
    tamper(state, audit_log.delete().where(audit_log.c.seq == 18))
    assert problem_of(state, data_dir) == (
        18,
        "missing",
        "entry 18 is missing: entries were removed after 17",
    )


def test_a_removed_first_entry_is_named(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 3)
    tamper(state, audit_log.delete().where(audit_log.c.seq == 1))
    assert problem_of(state, data_dir)[:2] == (1, "missing")
    assert "removed from the start of the log" in problem_of(state, data_dir)[2]


def test_removal_hidden_by_renumbering_is_named(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 8)
    tamper(
        state,
        audit_log.delete().where(audit_log.c.seq == 5),
        *(audit_log.update().where(audit_log.c.seq == n).values(seq=n - 1) for n in range(6, 9)),
    )
    seq, kind, message = problem_of(state, data_dir)
    assert (seq, kind) == (5, "missing")
    assert message.startswith("entry 5 is missing: entries were removed after 4")
    assert "written as entry 6" in message


def test_a_removed_last_entry_needs_the_anchored_head(
    state: ConnectorState, data_dir: Path
) -> None:
    hashes = fill(state, data_dir, 6)
    anchored = verify_state(state, data_dir).head_hash
    assert anchored == hashes[-1]
    tamper(state, audit_log.delete().where(audit_log.c.seq == 6))
    # The chain alone is intact: its newest entry was cut off cleanly.
    assert verify_state(state, data_dir).ok
    assert problem_of(state, data_dir, expect_head=anchored) == (
        6,
        "truncated",
        f"the expected head {anchored[:16]} is not in the log: entries were removed from its "
        "end (it now ends at entry 5)",
    )
    # An earlier anchor with legitimate entries after it is fine.
    report = verify_state(state, data_dir, expect_head=hashes[2].upper())
    assert (report.ok, report.anchored_seq) == (True, 3)


def test_swapped_entries_are_named_as_reordered(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 10)
    tamper(
        state,
        audit_log.update().where(audit_log.c.seq == 7).values(seq=-1),
        audit_log.update().where(audit_log.c.seq == 8).values(seq=7),
        audit_log.update().where(audit_log.c.seq == -1).values(seq=8),
    )
    assert problem_of(state, data_dir) == (
        7,
        "reordered",
        "entry 7 is out of order: the entry stored as 7 was written as entry 8, and entry 7 is "
        "stored as 8",
    )


def test_a_forged_signature_is_named(state: ConnectorState, data_dir: Path) -> None:
    hashes = fill(state, data_dir, 6)
    other = ec.generate_private_key(ec.SECP256R1())
    tamper(
        state,
        audit_log.update()
        .where(audit_log.c.seq == 4)
        .values(signature=sign_hash(other, hashes[3])),
    )
    seq, kind, message = problem_of(state, data_dir)
    assert (seq, kind) == (4, "bad_signature")
    assert message.startswith("entry 4 has a bad signature")


def test_an_edit_with_a_recomputed_hash_is_caught_by_its_signature(
    state: ConnectorState, data_dir: Path
) -> None:
    fill(state, data_dir, 6)
    entries, _ = read_chain(state)
    victim = entries[2]
    forged = victim.__class__(**{**victim.__dict__, "details": {"n": 3, "slider": "configmgr"}})
    tamper(
        state,
        audit_log.update()
        .where(audit_log.c.seq == 3)
        .values(details='{"n":3,"slider":"configmgr"}', entry_hash=forged.computed_hash()),
    )
    assert problem_of(state, data_dir)[:2] == (3, "bad_signature")


def test_an_entry_by_a_foreign_key_is_an_unknown_signer(
    state: ConnectorState, data_dir: Path
) -> None:
    fill(state, data_dir, 3)
    intruder = AuditSigner("local", ec.generate_private_key(ec.SECP256R1()))
    append(state, intruder, event(99), now=T0 + timedelta(hours=1))
    seq, kind, message = problem_of(state, data_dir)
    # The intruder's first entry announces itself as a new signer: that is where it starts.
    assert (seq, kind) == (4, "unknown_signer")
    assert intruder.fingerprint[:16] in message
    assert "neither this host's keys" in message


def test_a_signer_missing_from_the_record_is_unknown(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 2)
    tamper(state, audit_signers.delete())
    seq, kind, message = problem_of(state, data_dir)
    assert (seq, kind) == (1, "unknown_signer")
    assert message.endswith("its key is not on record")


def test_a_replaced_signer_key_is_not_that_signer(state: ConnectorState, data_dir: Path) -> None:
    fill(state, data_dir, 2)
    other = AuditSigner("local", ec.generate_private_key(ec.SECP256R1()))
    tamper(state, audit_signers.update().values(public_key_pem=other.record(T0).public_key_pem))
    assert problem_of(state, data_dir)[:2] == (1, "unknown_signer")


def test_a_fork_is_refused_by_the_store(state: ConnectorState, data_dir: Path) -> None:
    """Even bypassing the lock, two entries can never follow the same one."""
    fill(state, data_dir, 2)
    [first, _second] = state.audit.entries()
    with pytest.raises(sa.exc.IntegrityError):
        tamper(
            state,
            audit_log.insert().values(
                {**first.__dict__, "seq": 3, "entry_hash": "f" * 64, "at": T0.replace(tzinfo=None)}
            ),
        )
