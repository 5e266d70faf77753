"""The key that signs the connector's audit entries, from its data directory.

Enrolled, the connector signs with its enrolled key (`connector.key`), and
records the certificate chain that vouches for it. Before enrollment (e.g. a
`workloads set` before the first attach) it signs with a local audit key,
`audit.key`, made on first use beside the connector key (mode 0600): so every
entry is signed, and whoever can write the state database but cannot read the
data directory cannot forge or extend the chain. That key has no certificate:
the first entry signed after enrollment vouches for it (`SIGNER_CHANGED`),
and `verify` says which entries rest on it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bridge.audit.keys import fingerprint, load_certificates, public_pem, sign_hash
from bridge.state import AuditSignerRecord
from bridge.state.identity_files import KEY_FILE, EnrollmentError, load_identity

LOCAL_KEY_FILE = "audit.key"


@dataclass(frozen=True)
class AuditSigner:
    """A private key that signs entry hashes, with what a verifier needs to trust it."""

    kind: str  # connector (enrolled) or local (before enrollment)
    private_key: ec.EllipticCurvePrivateKey
    certificate_pem: str | None = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the public key: the `signer` of the entries it signs."""
        return fingerprint(self.private_key.public_key())

    def sign(self, entry_hash: str) -> str:
        """The signature (base64 DER) of `entry_hash`."""
        return sign_hash(self.private_key, entry_hash)

    def record(self, now: datetime) -> AuditSignerRecord:
        """This signer as the state keeps it."""
        public = public_pem(self.private_key.public_key())
        return AuditSignerRecord(self.fingerprint, self.kind, public, self.certificate_pem, now)

    @classmethod
    def from_pem(
        cls, key_pem: bytes, *, kind: str, certificate_pem: str | None = None
    ) -> AuditSigner:
        """A signer from a PEM private key (EC P-256)."""
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("an audit signing key is an EC key")
        return cls(kind, key, certificate_pem)


def _key_unreadable(path: Path, exc: Exception) -> EnrollmentError:
    return EnrollmentError(
        f"the audit signing key {path} is unreadable: {exc}",
        hint="run the command as the connector's user (the key is readable by it only); "
        "nothing was changed",
    )


def _local_key(data_dir: Path) -> bytes:
    """The local audit key, made on first use; two processes making it at once get one key."""
    path = data_dir / LOCAL_KEY_FILE
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f"{LOCAL_KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # A hard link never replaces: whoever links first made the key everyone uses.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        temporary.unlink()
    return path.read_bytes()


def load_signer(data_dir: Path) -> AuditSigner:
    """The signer in force: the enrolled key with its certificate, else the local audit key.

    Raises EnrollmentError (a CobridgeError) when a key exists but cannot be
    read; load the signer before making a change, so an unauditable change
    is refused rather than made.
    """
    identity = load_identity(data_dir)
    if identity is not None:
        try:
            signer = AuditSigner.from_pem(identity.key_pem, kind="connector")
        except ValueError as exc:
            raise _key_unreadable(data_dir / KEY_FILE, exc) from exc
        chain = load_certificates(identity.chain_pem)
        # Between the key's and the certificate's writes of a renewal they differ:
        # the signer is then recorded without a certificate, filled in later.
        if chain and fingerprint(chain[0].public_key()) == signer.fingerprint:  # type: ignore[arg-type]
            return AuditSigner("connector", signer.private_key, identity.chain_pem.decode())
        return signer
    try:
        return AuditSigner.from_pem(_local_key(data_dir), kind="local")
    except (OSError, ValueError) as exc:
        raise _key_unreadable(data_dir / LOCAL_KEY_FILE, exc) from exc
