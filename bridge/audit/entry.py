"""An audit entry, its canonical encoding and its hash: the chain's wire form (format v1).

Standard library only, and free of the rest of the connector, so the same
rules can check an exported log anywhere (the tenant, a script).

An entry's wire form is a flat JSON object::

    {"v": 1, "seq": 7, "at": "2026-11-01T08:00:00.000000Z", "actor": "cli:ana",
     "action": "workload.set", "target": "compliance", "details": {...},
     "plan_hash": null, "prev_hash": "<64 hex>", "signer": "<64 hex>",
     "entry_hash": "<64 hex>", "signature": "<base64 DER>"}

- `entry_hash` is SHA-256 (hex) of the canonical encoding of every other
  field but `signature`: JSON with keys sorted, no whitespace
  (separators "," and ":"), non-ASCII as UTF-8, no NaN or infinity.
- `prev_hash` is the previous entry's `entry_hash`; the first entry's is
  `GENESIS` (64 zeros). `seq` starts at 1 and grows by exactly 1.
- `signature` is ECDSA P-256 with SHA-256 over the 32 bytes of `entry_hash`,
  DER-encoded, in base64; `signer` is SHA-256 (hex) of the signer's public
  key as DER SubjectPublicKeyInfo.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT_VERSION = 1
GENESIS = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Column sizes of the connector's table: longer actors and targets are cut, with a mark.
ACTOR_LIMIT, ACTION_LIMIT, TARGET_LIMIT, PLAN_HASH_LIMIT = 255, 64, 512, 128
# What a signer appends when it starts signing in place of another key.
SIGNER_CHANGED = "audit.signer-changed"


class AuditFormatError(ValueError):
    """A wire entry that is not in the chain's format (a missing or mistyped field)."""


def canonical_json(value: Any) -> str:
    """The canonical JSON text of `value` (sorted keys, no whitespace, UTF-8, finite numbers)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_time(moment: datetime) -> str:
    """A time as the chain writes it: UTC with microseconds and a Z."""
    if moment.tzinfo is None:
        raise ValueError("audit times are aware (UTC)")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


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


@dataclass(frozen=True)
class AuditEntry:
    """One chained, signed entry: the event, its place in the chain, its hash and signature."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    plan_hash: str | None
    prev_hash: str
    signer: str
    entry_hash: str
    signature: str

    def hashed_fields(self, *, seq: int | None = None) -> dict[str, Any]:
        """The fields `entry_hash` covers (with another `seq`, to find where an entry was written)."""
        return {
            "v": FORMAT_VERSION,
            "seq": self.seq if seq is None else seq,
            "at": format_time(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "plan_hash": self.plan_hash,
            "prev_hash": self.prev_hash,
            "signer": self.signer,
        }

    def computed_hash(self, *, seq: int | None = None) -> str:
        """SHA-256 (hex) of the canonical encoding of the hashed fields."""
        encoded = canonical_json(self.hashed_fields(seq=seq)).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()

    def to_wire(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict (the export's and a future upload's form)."""
        return {**self.hashed_fields(), "entry_hash": self.entry_hash, "signature": self.signature}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> AuditEntry:
        """An entry from its wire form; AuditFormatError names what is wrong."""
        if wire.get("v") != FORMAT_VERSION:
            raise AuditFormatError(f"unsupported audit entry format {wire.get('v')!r}")
        text = ("actor", "action", "target", "prev_hash", "signer", "entry_hash", "signature")
        for key in text:
            if not isinstance(wire.get(key), str):
                raise AuditFormatError(f"field {key!r} is missing or not text")
        seq = wire.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise AuditFormatError("field 'seq' is missing or not an integer")
        if not isinstance(wire.get("details"), dict):
            raise AuditFormatError("field 'details' is missing or not an object")
        plan_hash = wire.get("plan_hash")
        if plan_hash is not None and not isinstance(plan_hash, str):
            raise AuditFormatError("field 'plan_hash' is neither text nor null")
        try:
            at = datetime.strptime(str(wire.get("at")), TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError as exc:
            raise AuditFormatError(f"field 'at' is not a time like {TIME_FORMAT}") from exc
        return cls(
            seq=seq,
            at=at,
            actor=wire["actor"],
            action=wire["action"],
            target=wire["target"],
            details=wire["details"],
            plan_hash=plan_hash,
            prev_hash=wire["prev_hash"],
            signer=wire["signer"],
            entry_hash=wire["entry_hash"],
            signature=wire["signature"],
        )
