"""The layout rules of the test suite: where system tests live, and which test modules import.

System tests (real processes, Chromium, the Samba DC, `kill -9`, the fault
proxy, end-to-end runs) live under tests/system/ and carry the `system` marker, so that
`make test-fast` can leave them out. Test modules share code only through
tests/support/ and conftest.py files, never by importing each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

TESTS_ROOT = REPO_ROOT / "tests"
SYSTEM_ROOT = TESTS_ROOT / "system"


def is_system_test(path: Path) -> bool:
    """Whether the test module at `path` is a system test (it lies under tests/system/)."""
    return SYSTEM_ROOT in Path(path).resolve().parents


def _imported_modules(tree: ast.Module) -> set[str]:
    """Every module a parsed file imports, `from a import b` also as `a.b`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules_importing_test_modules(root: Path = TESTS_ROOT) -> dict[str, list[str]]:
    """Test modules under `root` that import other test modules: {file: [test modules]}."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        imported = {
            name
            for name in _imported_modules(tree)
            # The suite's own test modules only (aiohttp.test_utils is a library's).
            if name.split(".", 1)[0] == "tests" and name.rsplit(".", 1)[-1].startswith("test_")
        }
        if imported:
            found[str(path.relative_to(root))] = sorted(imported)
    return found
