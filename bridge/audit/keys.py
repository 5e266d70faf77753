"""Key fingerprints, signature checks and certificate checks for the audit chain.

Depends on `cryptography` only (no connector state), like `entry`, so a
verifier elsewhere can use it with an exported log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


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
