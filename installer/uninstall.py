"""`cobridge uninstall`: stop, optionally detach at the tenant, remove, keep a backup.

The order protects the admin: everything that can refuse (no admin token for
`--detach`, the tenant saying no) happens before a file is removed. The
configuration directory is copied to `PREFIX/etc/cobridge.bak-<timestamp>/`
(mode 0700, the master key with the encrypted secrets, so a re-install can
start from it) unless `--purge`. Then the files go, and the directories the
install created are removed when empty, deepest first; a directory that was
there before the install is never removed.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bridge.runtime.enrollment import load_identity
from installer.doctor import installed_settings
from installer.identity import detach
from installer.layout import PRIVATE_DIR, InstallError, Layout, read_manifest
from installer.service import stop_service

TOKEN_ENV = "COBRIDGE_ADMIN_TOKEN"  # noqa: S105 - the name of a variable


def uninstall(
    layout: Layout, out: Console, *, detach_hierarchy: bool, token: str | None, purge: bool
) -> Path | None:
    """Uninstall what `layout` holds; the backup directory (None with `purge`)."""
    manifest = read_manifest(layout)
    if not layout.config_dir.exists() and not layout.data_dir.exists():
        raise InstallError(
            f"nothing is installed under {layout.prefix}",
            hint="pass the --prefix the install used",
        )
    if detach_hierarchy:
        _detach(layout, out, token or os.environ.get(TOKEN_ENV))
    if stop_service(layout):
        out.print("stopped and disabled the service")
    backup = None
    if not purge and layout.config_dir.exists():
        backup = layout.backup_dir(datetime.now(UTC))
        shutil.copytree(layout.config_dir, backup)
        backup.chmod(PRIVATE_DIR)
        out.print(f"kept the configuration in {escape(str(backup))}")
    for path in (layout.unit, layout.config_dir, layout.data_dir):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for created in sorted(manifest.get("created_dirs", []), key=len, reverse=True):
        directory = Path(created)
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    out.print(f"removed the connector from {escape(str(layout.prefix))}")
    if not detach_hierarchy:
        out.print(
            "the hierarchy stays attached at the tenant: detach it in the admin center, "
            "or uninstall with --detach"
        )
    return backup


def _detach(layout: Layout, out: Console, token: str | None) -> None:
    if not token:
        raise InstallError(
            "--detach needs an admin token of the tenant: nothing was removed",
            hint=f"pass --token TOKEN or set {TOKEN_ENV} (`cobridge cloud token create`, role admin)",
        )
    settings = installed_settings(layout)
    identity = load_identity(settings.data_dir)
    hierarchy = identity.hierarchy_id if identity else settings.site.hierarchy_id
    if hierarchy is None:
        raise InstallError(
            "cannot tell which hierarchy to detach (not enrolled, no [site] hierarchy_id)",
            hint="detach it in the admin center, then uninstall without --detach",
        )
    out.print(detach(settings, hierarchy, token))
