"""The audit chain's wire form, canonical hash and signatures (format v1): shared, pure.

The connector writes the chain (`bridge.audit`); the tenant service checks
what the connector uploads with the same rules, so they live here, free of
either side's state: standard library and `cryptography` only.

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

A signer is trusted through a certificate for its key issued by a trusted
authority (`certified_by`; validity dates are not checked), or through an
`audit.signer-changed` entry of a trusted signer naming it as `previous`
(see `cloud.contract.audit_verify`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FORMAT_VERSION = 1
GENESIS = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
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
        """The entry as a JSON-ready dict (the export's and the upload's form)."""
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


def fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 (hex) of the key's DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key as a PEM SubjectPublicKeyInfo."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey | None:
    """An EC public key from PEM, or None when the text is not one."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def sign_hash(private_key: ec.EllipticCurvePrivateKey, entry_hash: str) -> str:
    """ECDSA (SHA-256) over the 32 bytes of `entry_hash`, DER, in base64."""
    signature = private_key.sign(bytes.fromhex(entry_hash), ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def signature_valid(public_key: ec.EllipticCurvePublicKey, entry_hash: str, signature: str) -> bool:
    """Whether `signature` is `public_key`'s signature of `entry_hash` (as `sign_hash` makes it)."""
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, bytes.fromhex(entry_hash), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (none when it holds none or is not PEM)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def certified_by(
    certificate_pem: str,
    public_key: ec.EllipticCurvePublicKey,
    authorities: Iterable[x509.Certificate],
) -> x509.Certificate | None:
    """The authority that issued the bundle's leaf for `public_key`, or None.

    The leaf (the bundle's first certificate) must carry `public_key` and be
    signed by one of `authorities`. Validity dates are not checked: a
    certificate renewed long ago still vouches for the entries its key signed.
    """
    chain = load_certificates(certificate_pem)
    if not chain or fingerprint(chain[0].public_key()) != fingerprint(public_key):  # type: ignore[arg-type]
        return None
    for authority in authorities:
        try:
            chain[0].verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return authority
    return None
