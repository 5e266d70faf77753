"""An audit entry and its wire form (format v1), as the connector records events.

The format itself (canonical encoding, hash, wire form) is shared with the
tenant service and lives in `cloud.contract.audit_chain`; this module adds
what only the connector needs: the event before it is chained, cut to the
columns of its table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud.contract.audit_chain import (
    FORMAT_VERSION,
    GENESIS,
    SIGNER_CHANGED,
    TIME_FORMAT,
    AuditEntry,
    AuditFormatError,
    canonical_json,
    format_time,
)

__all__ = [
    "ACTION_LIMIT",
    "ACTOR_LIMIT",
    "FORMAT_VERSION",
    "GENESIS",
    "PLAN_HASH_LIMIT",
    "SIGNER_CHANGED",
    "TARGET_LIMIT",
    "TIME_FORMAT",
    "AuditEntry",
    "AuditEvent",
    "AuditFormatError",
    "canonical_json",
    "format_time",
]

# Column sizes of the connector's table: longer actors and targets are cut, with a mark.
ACTOR_LIMIT, ACTION_LIMIT, TARGET_LIMIT, PLAN_HASH_LIMIT = 255, 64, 512, 128


def _clean(value: str, limit: int) -> str:
    value = value.replace("\x00", "\ufffd")
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is chained: who did what to what, with details."""

    actor: str
    action: str
    target: str
    details: Mapping[str, Any] = field(default_factory=dict)
    plan_hash: str | None = None

    def normalized(self) -> AuditEvent:
        """The event as it will be stored: text cut to the columns, details canonical.

        Raises ValueError for an empty or over-long action, a plan hash over
        128 characters, or details that are not a JSON object.
        """
        if not self.action or len(self.action) > ACTION_LIMIT:
            raise ValueError(f"an audit action is 1 to {ACTION_LIMIT} characters: {self.action!r}")
        if self.plan_hash is not None and len(self.plan_hash) > PLAN_HASH_LIMIT:
            raise ValueError(f"a plan hash is at most {PLAN_HASH_LIMIT} characters")
        if not isinstance(self.details, Mapping):
            raise ValueError("audit details are a JSON object (a mapping)")
        try:
            # Through text and back: what is hashed is exactly what a reader parses.
            details = json.loads(canonical_json(dict(self.details)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"audit details must be plain JSON: {exc}") from exc
        return AuditEvent(
            _clean(self.actor, ACTOR_LIMIT),
            self.action,
            _clean(self.target, TARGET_LIMIT),
            details,
            self.plan_hash,
        )
