"""Where things are: the repository root and the test-only import hooks.

Computed here once, so that no test module derives them from its own place
in the folder tree.
"""

from __future__ import annotations

from pathlib import Path

import tests.support.hosts_hook

# tests/support/paths.py: two folders below the repository root.
REPO_ROOT = Path(__file__).resolve().parents[2]
# DOMAIN.md and DESIGN.md sit in `shared/`, beside the repository.
SHARED_DOCS = REPO_ROOT.parent / "shared"
# Put on PYTHONPATH, it makes a child process resolve the test's host names.
HOSTS_HOOK = Path(tests.support.hosts_hook.__file__).resolve().parent
