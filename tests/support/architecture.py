"""The import rules of DESIGN.md section 3, as a checker the architecture tests run.

Kept apart from the tests so that the tests can also run it on a deliberately
broken tree and see it fail.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.import_graph import ImportLine, SourceModule, loops, module_edges, scan

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

# The one exception to a pure `workloads`: the SQL engine plumbing every store
# shares (onprem and cloud may import only workloads). It may use SQLAlchemy
# and Alembic, imports nothing of the project but itself, and the pure domain
# modules never import it.
SQL_PLUMBING = "workloads.sql"
SQL_PLUMBING_THIRD_PARTY = frozenset({"sqlalchemy", "alembic"})

# Of `cloud`, the other packages import only the wire contract; the
# composition roots may also name the server to start it.
CLOUD_CONTRACT = "cloud.contract"
COMPOSITION_ROOTS = ("installer.console", "installer.demo")
SERVER = ("cloud.server", "cloud.service")

# Layers inside a package, lowest first: a module imports only its own layer
# or lower ones. Entries are subpackages or top-level modules (fnmatch
# patterns); one not listed here is reported until it is placed.
LAYERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "bridge": (
        ("bridge.tenant", "bridge.state", "bridge.mapping", "bridge.identity"),
        ("bridge.settings*", "bridge.config"),
        ("bridge.sync", "bridge.directory", "bridge.actions", "bridge.audit", "bridge.arbiter"),
        ("bridge.rollout",),
        ("bridge.runtime",),
        ("bridge.cli",),
    ),
    "cloud": (
        ("cloud.contract",),
        ("cloud.store", "cloud.pki"),
        ("cloud.service",),
        ("cloud.admin_center",),
        ("cloud.server",),
    ),
}

# The rules, as `Violation.rule_id` names them.
PACKAGE_RULE = "packages"  # ALLOWED, a pure workloads and its SQL exception
CONTRACT_RULE = "contract"  # only cloud.contract, except in composition roots
SERVER_RULE = "server"  # cloud never imports the connector
LAYER_RULE = "layers"
LOOP_RULE = "loops"


@dataclass(frozen=True)
class Violation:
    """One forbidden import or call, located."""

    path: str
    line: int
    imported: str
    rule: str
    rule_id: str = PACKAGE_RULE

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.imported}: {self.rule}"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _third_party_rule(module: str, top: str) -> str | None:
    """Why `module` of workloads may not import the non-project module `top`, if it may not."""
    if top in WORKLOADS_FORBIDDEN_STDLIB:
        return "workloads does no I/O, concurrency or clock reads"
    if top in sys.stdlib_module_names or top in WORKLOADS_THIRD_PARTY:
        return None
    if _within(module, SQL_PLUMBING) and top in SQL_PLUMBING_THIRD_PARTY:
        return None
    return "workloads uses the standard library and pydantic only"


def _project_rule(module: str, package: str, imported: ImportLine) -> tuple[str, str] | None:
    """Why `module` may not import the project module `imported`: (rule, rule id), if it may not."""
    name = imported.name
    top = name.split(".")[0]
    if top != package and top not in ALLOWED[package]:
        if package == "cloud" and top == "bridge":
            return "the server never imports the connector (nor its client, bridge.tenant)", (
                SERVER_RULE
            )
        allowed = ", ".join(sorted(ALLOWED[package])) or "nothing of the project"
        return f"{package} may import only {allowed}", PACKAGE_RULE
    if package == "workloads":
        if _within(module, SQL_PLUMBING) and not _within(name, SQL_PLUMBING):
            return f"{SQL_PLUMBING} imports nothing of the project", PACKAGE_RULE
        # `from workloads import sql` reaches it too.
        reaches = any(_within(c, SQL_PLUMBING) for c in imported.candidates)
        if not _within(module, SQL_PLUMBING) and reaches:
            return f"the pure domain never imports {SQL_PLUMBING}", PACKAGE_RULE
    if top == "cloud" and package != "cloud" and not _within(name, CLOUD_CONTRACT):
        root = any(_within(module, r) for r in COMPOSITION_ROOTS)
        if not (root and any(_within(name, s) for s in SERVER)):
            return (
                f"of cloud only {CLOUD_CONTRACT} is imported; only the composition roots "
                f"({', '.join(COMPOSITION_ROOTS)}) may name {' or '.join(SERVER)}",
                CONTRACT_RULE,
            )
    return None


def _package_violations(modules: dict[str, SourceModule]) -> list[Violation]:
    violations: list[Violation] = []
    for name, module in modules.items():
        package = name.split(".")[0]
        for imported in module.imports:
            top = imported.name.split(".")[0]
            found: tuple[str, str] | None = None
            if top in PACKAGES:
                found = _project_rule(name, package, imported)
            elif package == "workloads":
                rule = _third_party_rule(name, top)
                found = (rule, PACKAGE_RULE) if rule else None
            if found is not None:
                violations.append(Violation(module.path, imported.line, imported.name, *found))
        if package == "workloads":
            violations.extend(_clock_reads(module.tree, module.path))
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


def import_violations(root: Path) -> list[Violation]:
    """Every import under `root`'s packages that DESIGN.md section 3 forbids, every rule."""
    modules = scan(root, PACKAGES)
    return [
        *_package_violations(modules),
        *layer_violations(modules),
        *loop_violations(modules),
    ]


def _subpackage(name: str) -> str | None:
    """The subpackage or top-level module of its package that `name` lies in; None for the root."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def _layer(package: str, subpackage: str) -> int | None:
    for number, members in enumerate(LAYERS[package], start=1):
        if any(fnmatch.fnmatchcase(subpackage, pattern) for pattern in members):
            return number
    return None


def layer_violations(modules: dict[str, SourceModule]) -> list[Violation]:
    """Imports from a lower layer to a higher one, and subpackages with no declared layer."""
    violations: list[Violation] = []
    undeclared: set[str] = set()
    edges = module_edges(modules)
    for name, module in modules.items():
        package, sub = name.split(".")[0], _subpackage(name)
        if package not in LAYERS or sub is None:
            continue
        own = _layer(package, sub)
        if own is None:
            if sub not in undeclared:
                undeclared.add(sub)
                violations.append(
                    Violation(
                        module.path,
                        1,
                        sub,
                        f"{sub} has no layer: declare its layer in tests/support/architecture.py LAYERS",
                        LAYER_RULE,
                    )
                )
            continue
        reported: set[tuple[int, str]] = set()
        for target, imported in sorted(edges[name].items()):
            other = _subpackage(target)
            if not _within(target, package) or other is None or other == sub:
                continue
            theirs = _layer(package, other)
            # `from a import b` may reach a and a.b: one report per line and subpackage.
            if theirs is not None and theirs > own and (imported.line, other) not in reported:
                reported.add((imported.line, other))
                violations.append(
                    Violation(
                        module.path,
                        imported.line,
                        target,
                        f"{sub} (layer {own}) may not import {other} (layer {theirs}): "
                        "a module imports only its own layer or lower ones",
                        LAYER_RULE,
                    )
                )
    return violations


def loop_violations(modules: dict[str, SourceModule]) -> list[Violation]:
    """Import loops between the subpackages of one package, and between files anywhere."""
    edges = module_edges(modules)
    violations: list[Violation] = []
    # Parts (subpackages and top-level modules): an edge for every import from
    # one part, or the package's root, to another of the same package.
    between: dict[str, dict[str, tuple[SourceModule, int, str]]] = {}
    for name, targets in edges.items():
        source = _subpackage(name) or name
        for target, imported in sorted(targets.items()):
            dest = _subpackage(target) or target
            if target.split(".")[0] == name.split(".")[0] and dest != source:
                between.setdefault(source, {}).setdefault(
                    dest, (modules[name], imported.line, target)
                )
    for loop in loops({s: set(d) for s, d in between.items()}):
        members = set(loop)
        for source in loop:
            for dest, (module, line, target) in sorted(between[source].items()):
                if dest in members:
                    violations.append(
                        Violation(
                            module.path,
                            line,
                            target,
                            f"import loop between parts of {loop[0].split('.')[0]}: "
                            f"{', '.join(loop)}",
                            LOOP_RULE,
                        )
                    )
    # A loop of top-level modules is one between parts already: reported once.
    reported = {(v.path, v.line, v.imported) for v in violations}
    for loop in loops({name: set(targets) for name, targets in edges.items()}):
        members = set(loop)
        for name in loop:
            for target, imported in sorted(edges[name].items()):
                if (
                    target in members
                    and (modules[name].path, imported.line, target) not in reported
                ):
                    violations.append(
                        Violation(
                            modules[name].path,
                            imported.line,
                            target,
                            f"import loop between files: {', '.join(loop)}",
                            LOOP_RULE,
                        )
                    )
    return violations
