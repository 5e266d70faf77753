"""Encryption at rest for the cloud service's secrets (CA private keys and the like).

A sealed value is `version (1) | key id (4) | nonce (12) | AES-256-GCM ciphertext+tag`.
The associated data is the header plus the value's purpose (for example
`tenant-ca:<tenant_id>`), so a ciphertext copied to another row, or another
tenant's row, fails to open. The key id names which master key sealed a value,
so a box holding old keys can open values sealed before a rotation and say
clearly when a value was sealed under a key it does not hold.

The master key is 32 random bytes, kept base64-encoded in a file of mode 0600
or in an environment value. Nothing here ever puts plaintext or key material
into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workloads.errors import CobridgeError

__all__ = [
    "KEY_BYTES",
    "SecretBox",
    "SecretBoxError",
    "load_or_create_master_key",
    "master_key_from_env",
]

KEY_BYTES = 32
_VERSION = 1
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = 1 + _KEY_ID_BYTES
_MIN_SEALED = _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES


class SecretBoxError(CobridgeError):
    """A value could not be sealed or opened, or a master key is unusable.

    `code` is one of: `secret_box_open_failed` (tampered, wrong purpose, wrong
    key, truncated), `secret_box_unknown_key` (sealed under a key the box does
    not hold), `master_key_invalid`, `master_key_insecure`.
    """

    code = "secret_box_error"

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def _key_id(key: bytes) -> bytes:
    # A domain-separated digest: identifies the key without revealing anything usable.
    return hashlib.sha256(b"cobridge-secret-box-key-id\x00" + key).digest()[:_KEY_ID_BYTES]


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise SecretBoxError(
            "master_key_invalid", f"a master key must be exactly {KEY_BYTES} bytes"
        )


class SecretBox:
    """Seals and opens small secrets under a 32-byte master key (AES-256-GCM).

    `previous_keys` are only ever used to open values; `seal` and `rotate`
    always use `key`.
    """

    def __init__(self, key: bytes, *, previous_keys: Sequence[bytes] = ()) -> None:
        _check_key(key)
        for old in previous_keys:
            _check_key(old)
        self._key_id = _key_id(key)
        self._aead = AESGCM(key)
        self._openers: dict[bytes, AESGCM] = {_key_id(old): AESGCM(old) for old in previous_keys}
        self._openers[self._key_id] = self._aead

    @property
    def key_id(self) -> str:
        """The hex id of the current key, safe to log."""
        return self._key_id.hex()

    def seal(self, plaintext: bytes, *, purpose: str) -> bytes:
        """Encrypt `plaintext` so that it opens only with this key and this `purpose`."""
        header = bytes([_VERSION]) + self._key_id
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext, _associated_data(header, purpose))
        return header + nonce + ciphertext

    def open(self, sealed: bytes, *, purpose: str) -> bytes:
        """Decrypt a value sealed for `purpose`; raise `SecretBoxError` if anything is off."""
        if len(sealed) < _MIN_SEALED or sealed[0] != _VERSION:
            raise SecretBoxError(
                "secret_box_open_failed",
                f"sealed value for {purpose!r} is truncated or of an unknown format",
            )
        header, nonce = sealed[:_HEADER_BYTES], sealed[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
        opener = self._openers.get(header[1:])
        if opener is None:
            raise SecretBoxError(
                "secret_box_unknown_key",
                f"sealed value for {purpose!r} was sealed under master key "
                f"{header[1:].hex()}, which this service does not hold",
                hint="start the service with that key as a previous key, then rotate",
            )
        try:
            return opener.decrypt(
                nonce, sealed[_HEADER_BYTES + _NONCE_BYTES :], _associated_data(header, purpose)
            )
        except InvalidTag:
            raise SecretBoxError(
                "secret_box_open_failed",
                f"sealed value for {purpose!r} failed authentication: it was altered, "
                "or it belongs to another purpose",
            ) from None

    def is_current(self, sealed: bytes) -> bool:
        """Whether `sealed` is already under the current key (no rotation needed)."""
        return len(sealed) >= _HEADER_BYTES and sealed[1:_HEADER_BYTES] == self._key_id

    def rotate(self, sealed: bytes, *, purpose: str) -> bytes:
        """Re-seal a value under the current key; values already current come back as they are."""
        if self.is_current(sealed):
            self.open(sealed, purpose=purpose)  # still prove it is intact
            return sealed
        return self.seal(self.open(sealed, purpose=purpose), purpose=purpose)


def _associated_data(header: bytes, purpose: str) -> bytes:
    if not purpose:
        raise ValueError("a sealed value needs a non-empty purpose")
    return header + b"\x00" + purpose.encode("utf-8")


def master_key_from_env(value: str) -> bytes:
    """Decode a base64 master key taken from the environment (standard or URL-safe alphabet)."""
    text = value.strip()
    try:
        key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise SecretBoxError(
            "master_key_invalid",
            "the master key from the environment is not valid base64",
            hint=_GENERATE_HINT,
        ) from None
    if len(key) != KEY_BYTES:
        raise SecretBoxError(
            "master_key_invalid",
            f"the master key from the environment decodes to {len(key)} bytes, not {KEY_BYTES}",
            hint=_GENERATE_HINT,
        )
    return key


_GENERATE_HINT = 'generate one with: python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'


def load_or_create_master_key(path: Path) -> bytes:
    """Read the master key file at `path`, creating it (mode 0600) with a fresh key if missing.

    Refuses a file that group or others may access, since anyone who can read
    it can open every sealed secret.
    """
    path = Path(path)
    if not path.exists():
        _create_key_file(path)
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SecretBoxError("master_key_invalid", f"master key path {path} is not a regular file")
    if os.name == "posix" and info.st_mode & 0o077:
        raise SecretBoxError(
            "master_key_insecure",
            f"master key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); refusing to use it",
            hint=f"run: chmod 600 {path}",
        )
    try:
        return master_key_from_env(path.read_text(encoding="ascii"))
    except (SecretBoxError, UnicodeDecodeError):
        raise SecretBoxError(
            "master_key_invalid",
            f"master key file {path} does not hold a base64-encoded {KEY_BYTES}-byte key",
            hint=f"restore it from backup; without it sealed secrets cannot be opened. {_GENERATE_HINT}",
        ) from None


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    encoded = base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n"
    # Write a private temp file, then hard-link it into place: the key file
    # appears complete or not at all, and a concurrent creator's key wins
    # instead of being overwritten.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
