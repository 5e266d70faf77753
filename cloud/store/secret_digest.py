"""The digest under which the store keeps every secret it issues, and how a presented one is read.

API tokens, device check-in secrets, attach codes and web sessions are kept
only as the SHA-256 of the secret (a long random value: a fast hash is
enough). What a client presents is checked against that digest, and what a
client presents can be anything: a header byte that is not UTF-8 reaches the
service as a lone surrogate, and so can a JSON string escape. Such text is
digested as "surrogatepass" encodes it, never an error: it matches no digest
the store holds, since every secret the store issues is ASCII.
"""

from __future__ import annotations

import hashlib


def secret_digest(secret: str) -> str:
    """The hex SHA-256 of `secret`; any text at all, never an error."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def issued_shape(credential: str) -> bool:
    """Whether a presented credential could be one the store issued: ASCII, no control bytes.

    Checked before the credential's id reaches a query: a database driver
    refuses text it cannot encode, which would be the service's fault, not the
    client's.
    """
    return credential.isascii() and credential.isprintable()
