"""`ConnectorState`: the connector's state store, as narrow repositories over one engine.

Each repository (sources, devices, sequences, outbox, quarantine, deletes,
runs, lease, authority, authority_events, directory, audit, actions) has a handful of methods. On
`ConnectorState` every call runs in a transaction of its own; on the object `transaction()` yields, the same
repositories run in one shared transaction that commits or rolls back as a
whole::

    with state.transaction() as tx:
        tx.outbox.acknowledge(batch_id, ack, now=now)
        tx.sources.save("site", instance_id, cursor, now=now)

Synchronous, and safe to share between worker threads: each call or
transaction takes its own pooled connection. Keep transactions short and free
of network calls: on SQLite a transaction holds the write lock throughout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

from bridge.state.actions import ActionRuns
from bridge.state.audit import AuditLog
from bridge.state.authority import AuthorityEvents, AuthorityJournal
from bridge.state.deletes import HeldDeletes
from bridge.state.devices import DeviceStates
from bridge.state.directory import DirectoryComputers
from bridge.state.engine import create_state_engine, migrate_state, state_errors, state_url
from bridge.state.lease import Lease
from bridge.state.outbox import Outbox, Sequencer
from bridge.state.quarantine import Quarantine
from bridge.state.rollouts import Rollouts
from bridge.state.runs import SyncRuns
from bridge.state.scope import Scope
from bridge.state.sources import SourceCursors

# Closed batches kept (without their bodies) for status and investigation.
RETAIN_BATCHES = 1000


class _Repositories:
    """Every repository, bound to one scope."""

    def __init__(self, scope: Scope, retain_batches: int) -> None:
        self._scope = scope
        self._retain = retain_batches
        self.sources = SourceCursors(scope)
        self.devices = DeviceStates(scope)
        self.sequences = Sequencer(scope)
        self.outbox = Outbox(scope, retain=retain_batches)
        self.quarantine = Quarantine(scope)
        self.deletes = HeldDeletes(scope)
        self.runs = SyncRuns(scope)
        self.lease = Lease(scope)
        self.authority = AuthorityJournal(scope)
        self.authority_events = AuthorityEvents(scope)
        self.directory = DirectoryComputers(scope)
        self.audit = AuditLog(scope)
        self.actions = ActionRuns(scope)
        self.rollouts = Rollouts(scope)


class StateTransaction(_Repositories):
    """The repositories inside one open transaction: all or nothing of what is done here."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StateTransaction]:
        """This same transaction: nested groups join the outer one."""
        yield self


class ConnectorState(_Repositories):
    """The connector's state store: owns the engine; every call is its own transaction."""

    def __init__(self, engine: sa.Engine, *, retain_batches: int = RETAIN_BATCHES) -> None:
        if retain_batches < 1:
            raise ValueError("retain_batches must be at least 1")
        super().__init__(Scope(engine), retain_batches)
        self.engine = engine

    @classmethod
    def open(
        cls,
        db: str | None,
        *,
        data_dir: Path,
        migrate: bool = True,
        retain_batches: int = RETAIN_BATCHES,
    ) -> ConnectorState:
        """The store named by `db` (a URL), else SQLite in `data_dir`, migrated to the newest schema."""
        engine = create_state_engine(state_url(db, data_dir))
        try:
            if migrate:
                migrate_state(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, retain_batches=retain_batches)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StateTransaction]:
        """One transaction for a group of steps: committed on success, rolled back on error.

        Inside, use only the repositories of the object yielded: a call on
        `ConnectorState` itself would wait for this transaction's lock on SQLite.
        """
        with state_errors(self.engine.url, "committing a transaction"), self.engine.begin() as conn:
            yield StateTransaction(Scope(self.engine, conn), self._retain)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> ConnectorState:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
