"""Errors of the connector's state store, each saying what failed and what to do."""

from __future__ import annotations

from workloads.errors import CobridgeError


class StateError(CobridgeError):
    """The connector's state store refused or failed an operation."""

    code = "connector_state_error"


class StateUnavailable(StateError):
    """The state database cannot be reached, is locked for too long, or is out of space."""

    code = "connector_state_unavailable"


class StateConfigError(StateError):
    """The state store URL cannot be used."""

    code = "invalid_state_url"


class UnknownBatch(StateError):
    """An acknowledgement or refusal names a batch the outbox never held."""

    code = "unknown_batch"


class CursorAhead(StateError):
    """A cursor would move past records whose batches the tenant has not acknowledged."""

    code = "cursor_ahead_of_acknowledged"
