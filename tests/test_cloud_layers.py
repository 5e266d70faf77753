"""The layers inside `cloud`: a module imports only from its own layer or lower ones.

Lowest first: `cloud.contract`; `cloud.store` and `cloud.pki`; `cloud.service`
(API routes, auth, state, bootstrap); `cloud.admin_center` (pages over the
service's auth and queries); `cloud.server` (the assembly and `cobridge
cloud`). So no two of cloud's subpackages import each other.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS: dict[str, int] = {
    "cloud.contract": 0,
    "cloud.store": 1,
    "cloud.pki": 1,
    "cloud.service": 2,
    "cloud.admin_center": 3,
    "cloud.server": 4,
}


def _part(module: str) -> str | None:
    """The subpackage (or top module) of `cloud` that `module` belongs to."""
    for part in LAYERS:
        if module == part or module.startswith(part + "."):
            return part
    return None


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every import; `from cloud import pki` names `cloud.pki`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return found


def part_imports(root: Path) -> list[tuple[str, int, str, str]]:
    """(file, line, importing part, imported part) for imports between cloud's parts."""
    edges = []
    for path in sorted((root / "cloud").rglob("*.py")):
        rel = str(path.relative_to(root))
        module = _module_name(root, path)
        here = _part(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        found = set()
        for line, name in _imported(tree, module, path.name == "__init__.py"):
            there = _part(name)
            if there is not None and there != here:
                found.add((rel, line, here or "cloud", there))
        edges.extend(sorted(found))
    return edges


def layer_violations(root: Path) -> list[str]:
    """Every import of a higher layer, or between parts of one layer."""
    problems = []
    for rel, line, here, there in part_imports(root):
        if here not in LAYERS:
            problems.append(f"{rel}:{line}: the cloud package itself imports {there}")
        elif LAYERS[there] >= LAYERS[here]:
            problems.append(f"{rel}:{line}: {here} (layer {LAYERS[here]}) imports {there}")
    return problems


def part_loops(root: Path) -> list[tuple[str, str]]:
    """Pairs of cloud's parts that reach each other through imports."""
    graph: dict[str, set[str]] = {}
    for _, _, here, there in part_imports(root):
        graph.setdefault(here, set()).add(there)

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reach = {part: reaches(part) for part in graph}
    return [
        (a, b)
        for a, b in itertools.combinations(sorted(graph), 2)
        if b in reach[a] and a in reach.get(b, set())
    ]


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_cloud_imports_only_downwards() -> None:
    problems = layer_violations(ROOT)
    assert not problems, "\n".join(problems)


def test_no_loops_between_cloud_subpackages() -> None:
    assert part_loops(ROOT) == []


def test_the_server_is_the_top_and_uses_both_the_service_and_the_admin_center() -> None:
    edges = {(here, there) for _, _, here, there in part_imports(ROOT)}
    assert ("cloud.server", "cloud.service") in edges
    assert ("cloud.server", "cloud.admin_center") in edges
    assert ("cloud.admin_center", "cloud.service") in edges
    assert not any(there == "cloud.server" for _, there in edges)


def test_checker_names_an_upward_import_in_any_form(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "cloud/__init__.py": "",
            "cloud/pki.py": "from cloud.store import schema\n",
            "cloud/contract/__init__.py": "",
            "cloud/contract/x.py": "import cloud.pki\n",
            "cloud/store/__init__.py": "",
            "cloud/store/schema.py": "from ..contract import x\n",
            "cloud/service/__init__.py": "",
            "cloud/service/app.py": "from cloud import admin_center\n",
            "cloud/service/ok.py": "from . import app\nfrom cloud import pki\n",
            "cloud/admin_center/__init__.py": "from cloud.server import cli\n",
            "cloud/admin_center/web.py": "from .. import service\n",
            "cloud/server/__init__.py": "",
            "cloud/server/cli.py": "from cloud.service import app\nfrom cloud import admin_center\n",
        },
    )
    assert sorted(layer_violations(root)) == [
        "cloud/admin_center/__init__.py:1: cloud.admin_center (layer 3) imports cloud.server",
        "cloud/contract/x.py:1: cloud.contract (layer 0) imports cloud.pki",
        "cloud/pki.py:1: cloud.pki (layer 1) imports cloud.store",
        "cloud/service/app.py:1: cloud.service (layer 2) imports cloud.admin_center",
    ]
    # contract -> pki -> store -> contract; service -> admin_center -> server -> service.
    assert part_loops(root) == [
        ("cloud.admin_center", "cloud.server"),
        ("cloud.admin_center", "cloud.service"),
        ("cloud.contract", "cloud.pki"),
        ("cloud.contract", "cloud.store"),
        ("cloud.pki", "cloud.store"),
        ("cloud.server", "cloud.service"),
    ]
