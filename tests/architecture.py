"""The import rules of DESIGN.md section 3, as a checker the architecture tests run.

Kept apart from the tests so that the tests can also run it on a deliberately
broken tree and see it fail.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("workloads", "onprem", "cloud", "bridge", "installer")

# Which project packages each package may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "workloads": frozenset(),
    "onprem": frozenset({"workloads"}),
    "cloud": frozenset({"workloads"}),
    "bridge": frozenset({"workloads", "onprem", "cloud"}),
    # Nothing imports the installer; it may use everything else.
    "installer": frozenset({"workloads", "onprem", "cloud", "bridge"}),
}

# The pure domain: standard library (minus I/O and concurrency) and pydantic.
WORKLOADS_THIRD_PARTY = frozenset(
    {"pydantic", "pydantic_core", "typing_extensions", "annotated_types"}
)
WORKLOADS_FORBIDDEN_STDLIB = frozenset(
    {
        "asyncio",
        "socket",
        "ssl",
        "selectors",
        "sqlite3",
        "http",
        "urllib",
        "subprocess",
        "threading",
        "multiprocessing",
        "concurrent",
        "time",
        "shutil",
        "tempfile",
    }
)
CLOCK_CALLS = frozenset({"now", "utcnow", "today"})


@dataclass(frozen=True)
class Violation:
    """One forbidden import or call, located."""

    path: str
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.imported}: {self.rule}"


def _imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = [*parts[:-1], "__init__"]
    return ".".join(parts)


def import_violations(root: Path) -> list[Violation]:
    """Every import under `root`'s packages that DESIGN.md section 3 forbids."""
    violations: list[Violation] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = str(path.relative_to(root))
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
            for line, name in _imports(tree, _module_name(root, path)):
                top = name.split(".")[0]
                if top in PACKAGES and top != package and top not in ALLOWED[package]:
                    allowed = ", ".join(sorted(ALLOWED[package])) or "nothing of the project"
                    violations.append(
                        Violation(rel, line, name, f"{package} may import only {allowed}")
                    )
                if package == "workloads" and top not in PACKAGES:
                    if top in WORKLOADS_FORBIDDEN_STDLIB:
                        violations.append(
                            Violation(
                                rel, line, name, "workloads does no I/O, concurrency or clock reads"
                            )
                        )
                    elif top not in sys.stdlib_module_names and top not in WORKLOADS_THIRD_PARTY:
                        violations.append(
                            Violation(
                                rel,
                                line,
                                name,
                                "workloads uses the standard library and pydantic only",
                            )
                        )
            if package == "workloads":
                violations.extend(_clock_reads(tree, rel))
    return violations


def _clock_reads(tree: ast.AST, rel: str) -> list[Violation]:
    return [
        Violation(
            rel,
            node.lineno,
            f"{ast.unparse(node.func)}()",
            "workloads never reads the clock; pass time in",
        )
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_CALLS
    ]


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
