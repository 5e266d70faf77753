"""The connector's state satisfies every narrow store its consumers take.

Consumers type the state by the repositories they use (`bridge.state.ports`
and the stores composed from it next to each consumer); the composition
roots pass the one `ConnectorState` they open, and transactions yield a
`StateTransaction`. Each such port is compared with them here, member by
member (`tests.support.port_conformance`), and each port's members are checked to
be repositories the state has, so a port can name no repository that does
not exist.
"""

from __future__ import annotations

import inspect

import pytest
import sqlalchemy as sa

from bridge.arbiter.ports import JournalStore, JournalTransaction
from bridge.audit.chain import AuditStore
from bridge.audit.upload import AuditUploadStore
from bridge.directory.directory_pass import DirectoryStore, DirectoryTransaction
from bridge.rollout.engine import RolloutStore, RolloutTransaction
from bridge.rollout.remote import OrdersStore
from bridge.rollout.status import RolloutStatusStore
from bridge.runtime.heartbeat import HeartbeatStore, ReleaseTransaction
from bridge.runtime.status import StatusStore
from bridge.state import ConnectorState, StateTransaction
from bridge.state import ports as state_ports
from bridge.state.scope import Scope
from tests.support.port_conformance import port_members, unmet

HOLDERS = [
    cls
    for _, cls in inspect.getmembers(state_ports, inspect.isclass)
    if cls.__module__ == state_ports.__name__
]
# Stores of the whole state (single calls, and the transactions they open).
STORES = [
    AuditStore,
    AuditUploadStore,
    DirectoryStore,
    HeartbeatStore,
    JournalStore,
    OrdersStore,
    RolloutStatusStore,
    RolloutStore,
    StatusStore,
    *HOLDERS,
]
# What a transaction yields: the same repositories, bound to it.
TRANSACTIONS = [
    AuditStore,
    AuditUploadStore,
    DirectoryTransaction,
    JournalTransaction,
    ReleaseTransaction,
    RolloutTransaction,
]


@pytest.fixture
def state() -> ConnectorState:
    """A state store nothing is written to: it is only inspected."""
    return ConnectorState(sa.create_engine("sqlite://"))


def test_there_is_a_holder_per_repository(state: ConnectorState) -> None:
    assert len(HOLDERS) == 14
    for holder in HOLDERS:
        (name,) = port_members(holder)
        assert hasattr(state, name), holder.__name__


@pytest.mark.parametrize("store", STORES, ids=lambda s: s.__name__)
def test_the_connector_state_is_every_store(state: ConnectorState, store: type) -> None:
    assert unmet(store, state) == []


@pytest.mark.parametrize("store", TRANSACTIONS, ids=lambda s: s.__name__)
def test_a_state_transaction_is_every_transaction(state: ConnectorState, store: type) -> None:
    assert unmet(store, StateTransaction(Scope(state.engine), 10)) == []


def test_a_store_naming_a_repository_the_state_lacks_is_unmet(state: ConnectorState) -> None:
    from typing import Protocol

    class WithLedger(state_ports.WithAudit, Protocol):
        @property
        def ledger(self) -> object:
            """No such repository."""
            ...

    assert unmet(WithLedger, state) == ["ledger: missing"]
