"""Verifying the chain on the connector's host: its keys and its tenant's CA as trust.

On the host, a signer is trusted when it is this host's connector key or
local audit key, when its certificate was issued by the tenant CA this
connector enrolled with (a renewed key stays trusted this way), or when a
trusted signer's `audit.signer-changed` entry vouches for it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bridge.audit.chain import AuditStore, read_chain
from bridge.audit.export import read_export
from bridge.audit.keys import fingerprint, load_certificates
from bridge.audit.signer import LOCAL_KEY_FILE
from bridge.audit.verify import TrustAnchors, VerifyReport, verify_entries
from bridge.state.identity_files import CERT_FILE, KEY_FILE, EnrollmentError

_WHY = {KEY_FILE: "this host's connector key", LOCAL_KEY_FILE: "this host's local audit key"}


def _public_fingerprint(path: Path) -> str:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise EnrollmentError(
            f"cannot read {path} to check the audit log's signatures: {exc}",
            hint="run the command as the connector's user (its keys are readable by it only)",
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise EnrollmentError(f"{path} does not hold an EC key")
    return fingerprint(key.public_key())


def host_trust(data_dir: Path) -> TrustAnchors:
    """What this host trusts: its own keys, and the CA certificates its enrollment brought."""
    keys = {}
    for name, why in _WHY.items():
        path = data_dir / name
        if path.exists():
            keys[_public_fingerprint(path)] = why
    authorities = []
    chain_path = data_dir / CERT_FILE
    if chain_path.exists():
        try:
            # The leaf comes first; the tenant's CA (and any intermediates) follow it.
            authorities = load_certificates(chain_path.read_bytes())[1:]
        except OSError as exc:
            raise EnrollmentError(f"cannot read {chain_path}: {exc}") from exc
    return TrustAnchors(keys, authorities)


def verify_state(
    store: AuditStore, data_dir: Path, *, expect_head: str | None = None
) -> VerifyReport:
    """Verify the chain in the state store with this host's trust."""
    entries, signers = read_chain(store)
    return verify_entries(entries, signers, host_trust(data_dir), expect_head=expect_head)


def verify_export(path: Path, data_dir: Path, *, expect_head: str | None = None) -> VerifyReport:
    """Verify an export file (`cobridge audit export`) with this host's trust."""
    entries, signers = read_export(path)
    return verify_entries(entries, signers, host_trust(data_dir), expect_head=expect_head)
