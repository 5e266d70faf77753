"""The connector's secrets, encrypted at rest beside its configuration file.

A string `secret:NAME` in the TOML file is a reference: `ConnectorSettings.load`
replaces it with secret NAME from `secrets.enc` in the file's directory,
opened with `master.key` there (32 random bytes, base64, mode 0600, made on
this host). Each value is sealed with `cloud.contract.secret_box.SecretBox`
(AES-256-GCM) for the purpose `connector-secret:NAME`, so a sealed value
copied under another name fails to open. Only the keys of the settings'
`SECRET_KEYS` may hold a reference, so a secret never reaches a key whose
value error messages quote.

Rotating the master key writes the new key as `master.key.next`, re-seals
every value under it, replaces `secrets.enc`, then renames the new key over
the old one; a reader holds both keys while `master.key.next` exists, so a
crash at any step leaves every secret readable.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from cloud.contract.secret_box import SecretBox, SecretBoxError, load_or_create_master_key
from workloads.errors import CobridgeError

SECRETS_FILE = "secrets.enc"
MASTER_KEY_FILE = "master.key"
NEXT_KEY_FILE = "master.key.next"
REFERENCE = "secret:"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FORMAT = 1


class SecretStoreError(CobridgeError):
    """A secret cannot be read or written; the message names it, never its value."""

    code = "secret_store_error"


def _purpose(name: str) -> str:
    return f"connector-secret:{name}"


def _write_private(path: Path, data: bytes) -> None:
    # Beside, then renamed: a crash never leaves half a file.
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


class SecretStore:
    """`secrets.enc` and `master.key` in one directory (the configuration's)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / SECRETS_FILE
        self.key_path = self.directory / MASTER_KEY_FILE
        self.next_key_path = self.directory / NEXT_KEY_FILE

    def _box(self) -> SecretBox:
        if not self.key_path.exists():
            raise SecretStoreError(
                f"the master key {self.key_path} does not exist",
                hint="restore it from your backup; without it the secrets in "
                f"{self.path} cannot be opened (or set every secret again with "
                "`cobridge secrets set NAME`, which makes a new key)",
            )
        key = load_or_create_master_key(self.key_path)
        previous = [load_or_create_master_key(self.next_key_path)] if self._rotating() else []
        return SecretBox(key, previous_keys=previous)

    def _rotating(self) -> bool:
        return self.next_key_path.exists()

    def _sealed(self) -> dict[str, bytes]:
        if not self.path.exists():
            return {}
        try:
            document = json.loads(self.path.read_bytes())
            if document.get("format") != _FORMAT:
                raise ValueError("unknown format")
            return {n: base64.b64decode(v, validate=True) for n, v in document["secrets"].items()}
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise SecretStoreError(
                f"{self.path} is not a secrets file of this version",
                hint="restore it from your backup, or remove it and set every secret again "
                "with `cobridge secrets set NAME`",
            ) from None

    def _save(self, sealed: Mapping[str, bytes]) -> None:
        document = {
            "format": _FORMAT,
            "secrets": {n: base64.b64encode(v).decode() for n, v in sorted(sealed.items())},
        }
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(self.path, (json.dumps(document, indent=2) + "\n").encode())

    def names(self) -> list[str]:
        """The names of the secrets held (never their values)."""
        return sorted(self._sealed())

    def get(self, name: str) -> str:
        """The value of secret `name`; `SecretStoreError` naming it when unavailable."""
        sealed = self._sealed().get(name)
        if sealed is None:
            where = self.path if self.path.exists() else f"{self.path} (which does not exist)"
            raise SecretStoreError(
                f"secret {name!r} is not in {where}",
                hint=f"set it with `cobridge secrets set {name}`",
            )
        try:
            return self._box().open(sealed, purpose=_purpose(name)).decode("utf-8")
        except SecretBoxError as exc:
            raise SecretStoreError(
                f"secret {name!r} in {self.path} cannot be opened: {exc.message}",
                hint=exc.hint
                or f"restore {self.key_path} from your backup, or set it again with "
                f"`cobridge secrets set {name}`",
            ) from None

    def set_many(self, values: Mapping[str, str]) -> list[str]:
        """Seal each value (making the master key if there is none); the names that changed.

        A value equal to the one held is left as it is, so setting the same
        secrets again writes nothing.
        """
        for name in values:
            check_name(name)
        sealed = self._sealed()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not sealed and not self.key_path.exists():
            load_or_create_master_key(self.key_path)
        box = self._box()
        changed = []
        for name, value in values.items():
            old = sealed.get(name)
            if old is not None and box.open(old, purpose=_purpose(name)).decode() == value:
                continue
            sealed[name] = box.seal(value.encode("utf-8"), purpose=_purpose(name))
            changed.append(name)
        if changed:
            self._save(sealed)
        return changed

    def delete(self, name: str) -> bool:
        """Remove secret `name`; whether it was there."""
        sealed = self._sealed()
        if sealed.pop(name, None) is None:
            return False
        self._save(sealed)
        return True

    def rotate_master_key(self) -> str:
        """A new master key with every secret re-sealed under it; its id (safe to show)."""
        sealed = self._sealed()
        old_box = self._box()
        next_key = load_or_create_master_key(self.next_key_path)
        box = SecretBox(next_key, previous_keys=[load_or_create_master_key(self.key_path)])
        for name, value in sealed.items():
            old_box.open(value, purpose=_purpose(name))  # every value must open first
            sealed[name] = box.rotate(value, purpose=_purpose(name))
        self._save(sealed)
        self.next_key_path.replace(self.key_path)
        return box.key_id


def check_name(name: str) -> str:
    """`name` when it is a usable secret name; `SecretStoreError` otherwise."""
    if not NAME_PATTERN.match(name):
        raise SecretStoreError(
            f"{name[:40]!r} is not a secret name",
            hint="use lower-case letters, digits and _, starting with a letter (site_db)",
        )
    return name


def reference_name(value: object) -> str | None:
    """The secret a `secret:NAME` value refers to, or None for any other value."""
    if isinstance(value, str) and value.startswith(REFERENCE):
        return value[len(REFERENCE) :].strip()
    return None


def resolve_references(
    values: dict[str, Any], config_path: Path, allowed: Collection[str]
) -> tuple[dict[str, Any], list[str]]:
    """`values` with every `secret:NAME` replaced, and one `key: what -> fix` line per problem.

    Secrets are looked up in the store beside `config_path`; `allowed` lists
    the dotted keys that may hold a reference.
    """
    store = SecretStore(config_path.parent)
    problems: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                out[key] = walk(value, f"{dotted}.")
                continue
            name = reference_name(value)
            if name is None:
                out[key] = value
            elif dotted not in allowed:
                problems.append(
                    f"{dotted}: holds a secret reference, which only "
                    f"{', '.join(sorted(allowed))} may -> write the value itself"
                )
            else:
                try:
                    out[key] = store.get(check_name(name))
                except CobridgeError as exc:
                    problems.append(f"{dotted}: {exc.message} -> {exc.hint}")
        return out

    return walk(values, ""), problems
