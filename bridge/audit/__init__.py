"""The connector's audit log: hash-chained, signed entries of every change an admin or automation makes.

Record a change::

    signer = load_signer(settings.data_dir)          # before the change: no key, no change
    with state.transaction() as tx:
        ...                                          # the change itself
        append(tx, signer, AuditEvent(actor, action, target, details, plan_hash), now=now)

(or `append(state, ...)` after a change made elsewhere, e.g. at the site).
Check it with `verify_state`, or `verify_export` for a file `export_lines`
wrote; `cobridge audit show|verify|export` are the commands. The wire form
and its rules are in `bridge.audit.entry`.
"""

from bridge.audit.chain import AuditStore, append, read_chain
from bridge.audit.entry import GENESIS, SIGNER_CHANGED, AuditEntry, AuditEvent, AuditFormatError
from bridge.audit.export import AuditExportError, export_lines, read_export
from bridge.audit.host import host_trust, verify_export, verify_state
from bridge.audit.signer import LOCAL_KEY_FILE, AuditSigner, load_signer
from bridge.audit.verify import Problem, SignerSummary, TrustAnchors, VerifyReport, verify_entries

__all__ = [
    "GENESIS",
    "LOCAL_KEY_FILE",
    "SIGNER_CHANGED",
    "AuditEntry",
    "AuditEvent",
    "AuditExportError",
    "AuditFormatError",
    "AuditSigner",
    "AuditStore",
    "Problem",
    "SignerSummary",
    "TrustAnchors",
    "VerifyReport",
    "append",
    "export_lines",
    "host_trust",
    "load_signer",
    "read_chain",
    "read_export",
    "verify_entries",
    "verify_export",
    "verify_state",
]
