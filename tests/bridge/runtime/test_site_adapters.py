"""The connector names its concrete site adapters in one module: `bridge/runtime/site.py`.

Everything else in `bridge/` takes the site through its ports (the
protocols of `onprem.site_authority`, `bridge.sync.ports`), so a second site
adapter is a new class and a line in that module. The scan reads every
module of `bridge/` (AST, nothing imported) for the adapters' class names
and the modules that define them.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
COMPOSITION_POINT = "bridge/runtime/site.py"
# The concrete site adapters, by class, and the modules that define them.
ADAPTERS = {
    "EmbeddedSiteAuthority": "onprem.authority.embedded",
    "SiteReader": "onprem.site_reader",
}


def _names_an_adapter(tree: ast.AST) -> list[str]:
    """How the module names a concrete adapter: imports of its class or module, uses of its name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name in ADAPTERS or f"{node.module}.{alias.name}" in ADAPTERS.values():
                    found.append(f"imports {alias.name} from {node.module}")
        elif isinstance(node, ast.Import):
            found.extend(f"imports {a.name}" for a in node.names if a.name in ADAPTERS.values())
        elif isinstance(node, ast.Name) and node.id in ADAPTERS:
            found.append(f"uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in ADAPTERS:
            found.append(f"uses .{node.attr}")
    return found


def adapter_namers(root: Path) -> dict[str, list[str]]:
    """Every module of `root/bridge` that names a concrete site adapter, with how."""
    namers = {}
    for path in sorted((root / "bridge").rglob("*.py")):
        found = _names_an_adapter(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if found:
            namers[path.relative_to(root).as_posix()] = found
    return namers


def test_only_the_composition_point_names_a_concrete_site_adapter() -> None:
    assert list(adapter_namers(ROOT)) == [COMPOSITION_POINT]


def test_the_composition_point_builds_every_adapter() -> None:
    found = " ".join(adapter_namers(ROOT)[COMPOSITION_POINT])
    assert all(name in found for name in ADAPTERS)


def test_a_module_that_names_an_adapter_is_found(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "bridge", tmp_path / "bridge", ignore=shutil.ignore_patterns("__pycache__")
    )
    broken = {
        "bridge/rollout/direct.py": "from onprem.authority.embedded import EmbeddedSiteAuthority\n",
        "bridge/arbiter/modular.py": "from onprem import site_reader\n",
        "bridge/cli/dotted.py": "import onprem.site_reader\nreader = onprem.site_reader.SiteReader\n",
    }
    for rel, text in broken.items():
        (tmp_path / rel).write_text(text)
    namers = adapter_namers(tmp_path)
    assert sorted(namers) == sorted([COMPOSITION_POINT, *broken])
    assert namers["bridge/cli/dotted.py"] == ["imports onprem.site_reader", "uses .SiteReader"]
