"""The audit log as JSON lines, to check it elsewhere (and, later, to upload it).

An export is UTF-8 text, one JSON object per line:

1. a header: `{"format": "cobridge-audit-export", "version": 1, "entries": N,
   "head": {"seq": N, "hash": "..."}}` (informative: it is not signed);
2. one `{"signer": {"signer", "kind", "public_key_pem", "certificate_pem",
   "first_used_at"}}` per key that signed entries;
3. one `{"entry": {...}}` per entry, oldest first, in the wire form of
   `bridge.audit.entry`.

A verifier trusts a signer through its certificate (issued by the tenant's
CA) or through a trusted signer's `audit.signer-changed` entry, never because
the export lists it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.audit.entry import AuditEntry, AuditFormatError, format_time
from bridge.state import AuditSignerRecord
from workloads.errors import CobridgeError

EXPORT_FORMAT = "cobridge-audit-export"
EXPORT_VERSION = 1


class AuditExportError(CobridgeError):
    """An export file that cannot be read as an audit export."""

    code = "audit_export_unreadable"


@dataclass(frozen=True)
class ExportedSigner:
    """A signer as an export lists it."""

    signer: str
    kind: str
    public_key_pem: str
    certificate_pem: str | None


def export_lines(
    entries: list[AuditEntry], signers: Mapping[str, AuditSignerRecord]
) -> Iterator[str]:
    """The export's lines (without newlines): header, the entries' signers, entries."""
    head = entries[-1] if entries else None
    yield json.dumps(
        {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "entries": len(entries),
            "head": {"seq": head.seq if head else None, "hash": head.entry_hash if head else None},
        }
    )
    for fp in dict.fromkeys(e.signer for e in entries):
        record = signers.get(fp)
        if record is None:
            continue
        first_used: datetime = record.first_used_at
        yield json.dumps(
            {
                "signer": {
                    "signer": record.signer,
                    "kind": record.kind,
                    "public_key_pem": record.public_key_pem,
                    "certificate_pem": record.certificate_pem,
                    "first_used_at": format_time(first_used),
                }
            }
        )
    for entry in entries:
        yield json.dumps({"entry": entry.to_wire()}, ensure_ascii=False)


def _signer(line: int, value: Any) -> ExportedSigner:
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k), str) for k in ("signer", "kind", "public_key_pem")
    ):
        raise AuditExportError(f"line {line}: a signer needs signer, kind and public_key_pem")
    certificate = value.get("certificate_pem")
    return ExportedSigner(
        value["signer"],
        value["kind"],
        value["public_key_pem"],
        certificate if isinstance(certificate, str) else None,
    )


def read_export(path: Path) -> tuple[list[AuditEntry], dict[str, ExportedSigner]]:
    """The entries and signers of an export file; AuditExportError names the bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditExportError(
            f"cannot read the audit export {path}: {exc}",
            hint="give the file `cobridge audit export` wrote",
        ) from exc
    entries: list[AuditEntry] = []
    signers: dict[str, ExportedSigner] = {}
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise AuditExportError(f"line {number} of {path} is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise AuditExportError(f"line {number} of {path} is not a JSON object")
        if not header_seen:
            if obj.get("format") != EXPORT_FORMAT or obj.get("version") != EXPORT_VERSION:
                raise AuditExportError(
                    f"{path} is not a cobridge audit export (version {EXPORT_VERSION})",
                    hint="its first line must be the header `cobridge audit export` writes",
                )
            header_seen = True
        elif "signer" in obj:
            signer = _signer(number, obj["signer"])
            signers[signer.signer] = signer
        elif "entry" in obj:
            if not isinstance(obj["entry"], dict):
                raise AuditExportError(f"line {number} of {path}: an entry is a JSON object")
            try:
                entries.append(AuditEntry.from_wire(obj["entry"]))
            except AuditFormatError as exc:
                raise AuditExportError(f"line {number} of {path}: {exc}") from exc
        else:
            raise AuditExportError(f"line {number} of {path} is neither a signer nor an entry")
    if not header_seen:
        raise AuditExportError(f"{path} is empty: it holds no audit export")
    return entries, signers
