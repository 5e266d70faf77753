"""The project's modules and the imports between them, read from source (nothing is imported).

The architecture checker (tests/support/architecture.py) states the rules; this module
only finds what imports what, file by file, and the loops in such a graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImportLine:
    """One import statement's target as written (absolute), and the modules it may mean."""

    line: int
    name: str  # the module after `import` or `from`, relative imports made absolute
    candidates: tuple[str, ...]  # `name`, and `name.x` for each `from name import x`


@dataclass
class SourceModule:
    """One file of the tree: its dotted name, path and imports."""

    name: str  # `bridge.actions` for bridge/actions/__init__.py
    path: str  # relative to the root, with forward slashes
    tree: ast.Module
    imports: list[ImportLine] = field(default_factory=list)


def _module_name(parts: tuple[str, ...]) -> str:
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, name: str, is_package: bool) -> list[ImportLine]:
    # A relative import is relative to the package: the module itself for an
    # __init__.py, its parent otherwise.
    package = name.split(".") if is_package else name.split(".")[:-1]
    found: list[ImportLine] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(ImportLine(node.lineno, a.name, (a.name,)) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            candidates = (target, *(f"{target}.{a.name}" for a in node.names))
            found.append(ImportLine(node.lineno, target, candidates))
    return found


def scan(root: Path, packages: Iterable[str]) -> dict[str, SourceModule]:
    """Every module under `root`'s `packages`, parsed, by dotted name."""
    modules: dict[str, SourceModule] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            rel = path.relative_to(root).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
            name = _module_name(parts)
            module = SourceModule(name, rel, tree)
            module.imports = _imports(tree, name, path.name == "__init__.py")
            modules[name] = module
    return modules


def resolve(candidate: str, modules: Mapping[str, object]) -> str | None:
    """The module of the tree `candidate` names: itself, or the longest module prefix."""
    name = candidate
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def module_edges(
    modules: Mapping[str, SourceModule],
) -> dict[str, dict[str, ImportLine]]:
    """For each module, the modules of the tree it imports, with the first line that does."""
    edges: dict[str, dict[str, ImportLine]] = {name: {} for name in modules}
    for name, module in modules.items():
        for imported in module.imports:
            # `from a import b` imports module a (it runs a/__init__.py, or it
            # is a module) and module a.b when there is one.
            targets = {resolve(c, modules) for c in imported.candidates}
            for target in targets - {None, name}:
                edges[name].setdefault(target, imported)  # type: ignore[arg-type]
    return edges


def loops(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node, each sorted (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph.get(start, ())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)
