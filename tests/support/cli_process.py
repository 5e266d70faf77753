"""The cobridge command line run as a process, as an admin runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COBRIDGE = [sys.executable, "-c", "from installer.console import main; main()"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a separate process."""
    env = {k: v for k, v in os.environ.items() if k not in {"COBRIDGE_SITE_DB", "COBRIDGE_DEBUG"}}
    return subprocess.run(
        [*COBRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
        check=False,
    )
