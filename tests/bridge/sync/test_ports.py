"""The sync engine's ports are satisfied, structurally, by the adapters the runtime passes in.

Every member of each port of `bridge.sync.ports` is compared with the
adapter that implements it (`tests.support.port_conformance`): a member added to a
port but not to its adapter (or renamed in one of them) fails here.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bridge.state import ConnectorState, StateTransaction
from bridge.state.scope import Scope
from bridge.sync import ports
from bridge.tenant.connector import ConnectorClient
from onprem.site_reader import InventoryRead, SiteReader
from onprem.site_statements import ReadScope
from tests.support.port_conformance import port_members, unmet


@pytest.fixture
def engine() -> sa.Engine:
    """An engine nothing is read through: the adapters are only inspected."""
    return sa.create_engine("sqlite://")


def test_the_site_reader_is_an_inventory_source(engine: sa.Engine) -> None:
    reader = SiteReader(engine)
    assert unmet(ports.InventorySource, reader) == []
    assert unmet(ports.InventoryStream, InventoryRead(reader, ReadScope())) == []


def test_the_connectors_client_is_an_ingest_sink() -> None:
    assert unmet(ports.IngestSink, ConnectorClient) == []


def test_the_connector_state_is_the_outbox_and_cycle_store(engine: sa.Engine) -> None:
    state = ConnectorState(engine)
    transaction = StateTransaction(Scope(engine), 10)
    assert unmet(ports.OutboxStore, state) == []
    assert unmet(ports.CycleStore, state) == []
    assert {"sources", "runs", "outbox", "transaction"} <= set(port_members(ports.CycleStore))
    assert unmet(ports.BatchTransaction, transaction) == []
    assert unmet(ports.CycleTransaction, transaction) == []


def test_a_missing_or_different_member_is_reported() -> None:
    class HalfSource:
        def check(self) -> None: ...

        def read(self, everything: bool) -> None: ...

    assert unmet(ports.InventorySource, HalfSource()) == [
        "read: takes [('everything', <_ParameterKind.POSITIONAL_OR_KEYWORD: 1>)]",
        "collections: missing",
    ]
