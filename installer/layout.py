"""Where an install puts its files under a prefix, and how they are written.

Everything lives under one prefix (`/` for a real install, a directory for
tests and non-root installs): the configuration directory (0700) with the
connector's settings, the master key and the encrypted secrets (0600 each),
the data directory (0700), and the systemd unit. `install.json` in the
configuration directory lists what the install created, so uninstall removes
exactly that and never a directory that was there before.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.settings_secrets import MASTER_KEY_FILE, NEXT_KEY_FILE, SECRETS_FILE
from workloads.errors import CobridgeError

UNIT_NAME = "cobridge-connector.service"
SERVICE_USER = "cobridge"
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PUBLIC_FILE = 0o644


class InstallError(CobridgeError):
    """The install (or uninstall, doctor) cannot go on; the message says why and the hint how."""

    code = "install_failed"


@dataclass(frozen=True)
class Layout:
    """The paths of one install under `prefix`."""

    prefix: Path

    @property
    def config_dir(self) -> Path:
        """`PREFIX/etc/cobridge` (0700)."""
        return self.prefix / "etc" / "cobridge"

    @property
    def config(self) -> Path:
        """The connector's settings, secrets as `secret:NAME` references (0600)."""
        return self.config_dir / "connector.toml"

    @property
    def master_key(self) -> Path:
        """The master key that opens `secrets.enc` (0600)."""
        return self.config_dir / MASTER_KEY_FILE

    @property
    def next_master_key(self) -> Path:
        """The new master key while a rotation is under way."""
        return self.config_dir / NEXT_KEY_FILE

    @property
    def secrets(self) -> Path:
        """The encrypted secrets (0600)."""
        return self.config_dir / SECRETS_FILE

    @property
    def ca_file(self) -> Path:
        """The service root certificate the connector trusts (public)."""
        return self.config_dir / "service-root.pem"

    @property
    def manifest(self) -> Path:
        """What the install created and chose (no secrets)."""
        return self.config_dir / "install.json"

    @property
    def data_dir(self) -> Path:
        """`PREFIX/var/lib/cobridge` (0700): state, key and certificate."""
        return self.prefix / "var" / "lib" / "cobridge"

    @property
    def unit(self) -> Path:
        """The systemd unit."""
        return self.prefix / "etc" / "systemd" / "system" / UNIT_NAME

    @property
    def first_run_log(self) -> Path:
        """The log of the connector's first run at install (0600)."""
        return self.data_dir / "first-run.log"

    def backup_dir(self, now: datetime) -> Path:
        """`PREFIX/etc/cobridge.bak-<timestamp>`: the configuration kept by uninstall."""
        return self.prefix / "etc" / f"cobridge.bak-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"

    @property
    def is_root_prefix(self) -> bool:
        """Whether this is a real install into `/`."""
        return self.prefix.resolve() == Path("/")

    def directories(self) -> list[tuple[Path, int]]:
        """The directories an install needs, parents first, with the mode of the private ones."""
        return [
            (self.config_dir, PRIVATE_DIR),
            (self.data_dir, PRIVATE_DIR),
            (self.unit.parent, 0o755),
        ]


def make_dirs(path: Path, mode: int, created: list[str]) -> None:
    """Create `path` and its missing parents; record each one created (deepest last)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o755 if directory != path else mode)
        created.append(str(directory))
    path.chmod(mode)


def write_file(path: Path, data: bytes, mode: int) -> bool:
    """Write `data` atomically with `mode`, unless the file already holds it; whether it wrote."""
    if path.exists() and path.read_bytes() == data:
        path.chmod(mode)
        return False
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.chmod(mode)
    temporary.replace(path)
    return True


def mode_of(path: Path) -> int:
    """The permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


def read_manifest(layout: Layout) -> dict[str, Any]:
    """The manifest of the install under `layout`, or {} when there is none."""
    try:
        return json.loads(layout.manifest.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InstallError(
            f"{layout.manifest} is unreadable ({exc})",
            hint="restore it from the backup, or remove it and install again",
        ) from None


def write_manifest(layout: Layout, manifest: dict[str, Any]) -> None:
    """Keep the manifest (0600; it holds no secret, but names the paths)."""
    write_file(layout.manifest, (json.dumps(manifest, indent=2) + "\n").encode(), PRIVATE_FILE)
