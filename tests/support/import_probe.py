"""A child interpreter imports every module with connections refused: no I/O at import time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.architecture import PACKAGES

_PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, socket, sqlite3, sys
    sys.path.insert(0, {root!r})
    opened = []
    def refuse(what):
        def _refuse(*args, **kwargs):
            opened.append(what)
            raise RuntimeError(what + " at import time")
        return _refuse
    socket.socket.connect = refuse("socket.connect")
    socket.create_connection = refuse("socket.create_connection")
    sqlite3.connect = refuse("sqlite3.connect")
    try:
        import sqlalchemy
        sqlalchemy.create_engine = refuse("sqlalchemy.create_engine")
    except ImportError:
        pass
    failures = []
    for package in {packages!r}:
        try:
            pkg = importlib.import_module(package)
        except ModuleNotFoundError:
            continue
        names = [package] + [
            m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")
            if "migrations" not in m.name
        ]
        for name in names:
            before = len(opened)
            try:
                importlib.import_module(name)
            except Exception as exc:
                failures.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
            if len(opened) > before:
                failures.append(f"{{name}}: opened {{opened[before:]}} at import time")
    print("\\n".join(failures))
    """
)


def import_time_io(root: Path) -> list[str]:
    """Import every module under `root` with connections refused; list what opened one."""
    probe = _PROBE.format(root=str(root), packages=PACKAGES)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        check=False,
    )
    if done.returncode != 0:
        return [f"probe failed: {done.stderr.strip()}"]
    return [line for line in done.stdout.splitlines() if line.strip()]
