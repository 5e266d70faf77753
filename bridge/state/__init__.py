"""The connector's own state store: cursors, acknowledged devices, outbox, guard, lease.

SQLite in the data directory by default, PostgreSQL by URL; schema through
Alembic (`bridge/state/migrations`). Start at `ConnectorState`.
"""

from bridge.state.audit import AuditRow, AuditSignerRecord
from bridge.state.deletes import HeldDelete
from bridge.state.devices import DeviceState
from bridge.state.engine import create_state_engine, migrate_state, state_schema_revision, state_url
from bridge.state.errors import (
    CursorAhead,
    StateConfigError,
    StateError,
    StateUnavailable,
    UnknownBatch,
)
from bridge.state.lease import LeaseInfo
from bridge.state.outbox import PendingBatch, encode_batch
from bridge.state.quarantine import QuarantineEntry, quarantine_key
from bridge.state.runs import SyncRun
from bridge.state.sources import SourceCursor
from bridge.state.store import ConnectorState, StateTransaction

__all__ = [
    "AuditRow",
    "AuditSignerRecord",
    "ConnectorState",
    "CursorAhead",
    "DeviceState",
    "HeldDelete",
    "LeaseInfo",
    "PendingBatch",
    "QuarantineEntry",
    "SourceCursor",
    "StateConfigError",
    "StateError",
    "StateTransaction",
    "StateUnavailable",
    "SyncRun",
    "UnknownBatch",
    "create_state_engine",
    "encode_batch",
    "migrate_state",
    "quarantine_key",
    "state_schema_revision",
    "state_url",
]
