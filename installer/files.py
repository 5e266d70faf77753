"""The files of an install: what would be written (for `--dry-run`), and writing them.

Writing is idempotent: a file that already holds its content is left alone
(its mode still enforced), the master key is made once, and a secret is
sealed again only when its value changed, so installing twice with the same
answers leaves every file as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bridge.settings_secrets import SecretStore
from installer.answers import InstallAnswers
from installer.layout import (
    PRIVATE_FILE,
    PUBLIC_FILE,
    InstallError,
    Layout,
    make_dirs,
    read_manifest,
    write_file,
    write_manifest,
)
from installer.render import connector_toml, systemd_unit

# Secrets an install may have stored before; one the answers no longer give is removed.
KNOWN_SECRETS = ("site_db", "directory_password", "winrm_password")


@dataclass(frozen=True)
class Planned:
    """One file or directory an install writes."""

    path: Path
    mode: int
    what: str


def plan(answers: InstallAnswers, layout: Layout) -> list[Planned]:
    """Everything the install writes, in order."""
    names = ", ".join(sorted(answers.secrets()))
    return [
        *(Planned(path, mode, "directory") for path, mode in layout.directories()),
        Planned(layout.master_key, PRIVATE_FILE, "master key, made here (kept if present)"),
        Planned(layout.secrets, PRIVATE_FILE, f"encrypted secrets: {names}"),
        Planned(layout.ca_file, PUBLIC_FILE, f"copy of {answers.cloud.ca_file}"),
        Planned(layout.config, PRIVATE_FILE, "connector settings, secrets as references"),
        Planned(layout.unit, PUBLIC_FILE, "hardened systemd unit"),
        Planned(layout.manifest, PRIVATE_FILE, "what the install created (for uninstall)"),
        Planned(layout.data_dir, 0o700, "key (0600), certificate and state, at enrollment"),
    ]


def _ca_bytes(answers: InstallAnswers) -> bytes:
    try:
        return answers.cloud.ca_file.read_bytes()
    except OSError as exc:
        raise InstallError(
            f"cannot read cloud.ca_file {answers.cloud.ca_file} ({exc.strerror})",
            hint="name the service root certificate (service-root.pem) of the cloud service",
        ) from None


def write_install(answers: InstallAnswers, layout: Layout, *, service: str) -> list[str]:
    """Write every file (creating what is missing); the paths whose content changed."""
    manifest = read_manifest(layout)
    created: list[str] = list(manifest.get("created_dirs", []))
    for path, mode in layout.directories():
        make_dirs(path, mode, created)
    changed: list[str] = []
    store = SecretStore(layout.config_dir)
    had_key = layout.master_key.exists()
    values = answers.secrets()
    if store.set_many(values):
        changed.append(str(layout.secrets))
    for stale in (n for n in KNOWN_SECRETS if n not in values):
        if store.delete(stale):
            changed.append(str(layout.secrets))
    if not had_key:
        changed.append(str(layout.master_key))
    files = [
        (layout.ca_file, _ca_bytes(answers), PUBLIC_FILE),
        (layout.config, connector_toml(answers, layout).encode(), PRIVATE_FILE),
        (layout.unit, systemd_unit(answers, layout).encode(), PUBLIC_FILE),
    ]
    for path, data, mode in files:
        if write_file(path, data, mode):
            changed.append(str(path))
    document = {
        "format": 1,
        "installed_at": manifest.get("installed_at") or datetime.now(UTC).isoformat(),
        "created_dirs": created,
        "service": service,
        "key_type": answers.cloud.key_type,
        "actions_enabled": answers.actions.enabled,
        "winrm_user": answers.actions.winrm_user,
    }
    if document != manifest:
        write_manifest(layout, document)
        changed.append(str(layout.manifest))
    return sorted(set(changed))
