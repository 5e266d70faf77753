"""DESIGN.md section 3: the direction of imports, and no I/O at import time."""

from __future__ import annotations

from pathlib import Path

from tests.architecture import import_time_io, import_violations

ROOT = Path(__file__).resolve().parent.parent


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_project_respects_the_import_rules() -> None:
    violations = import_violations(ROOT)
    assert not violations, "\n".join(map(str, violations))


def test_nothing_opens_a_database_or_socket_at_import_time() -> None:
    problems = import_time_io(ROOT)
    assert not problems, "\n".join(problems)


def test_checker_names_file_and_forbidden_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "workloads/__init__.py": "",
            "cloud/__init__.py": "",
            "cloud/store.py": "import os\nfrom onprem.site_reader import SiteReader\n",
            "onprem/__init__.py": "",
            "onprem/x.py": "from ..bridge import cli\n",
            "bridge/__init__.py": "",
            "bridge/boot.py": "import installer.setup\n",
        },
    )
    found = {(v.path, v.line, v.imported) for v in import_violations(root)}
    assert found == {
        ("cloud/store.py", 2, "onprem.site_reader"),
        ("onprem/x.py", 1, "bridge"),
        ("bridge/boot.py", 1, "installer.setup"),
    }


def test_checker_keeps_workloads_pure(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "workloads/__init__.py": "",
            "workloads/ok.py": "import enum\nfrom pydantic import BaseModel\nfrom datetime import datetime\n",
            "workloads/io.py": "import asyncio\nimport sqlalchemy\n",
            "workloads/clock.py": "from datetime import datetime\nstamp = datetime.now()\n",
        },
    )
    found = {(v.path, v.imported) for v in import_violations(root)}
    assert found == {
        ("workloads/io.py", "asyncio"),
        ("workloads/io.py", "sqlalchemy"),
        ("workloads/clock.py", "datetime.now()"),
    }


def test_import_probe_catches_a_module_that_connects(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "onprem/__init__.py": "",
            "onprem/eager.py": "import sqlite3\nCONN = sqlite3.connect(':memory:')\n",
            "onprem/lazy.py": "import sqlite3\ndef open_it():\n    return sqlite3.connect(':memory:')\n",
        },
    )
    problems = import_time_io(root)
    assert any(p.startswith("onprem.eager:") for p in problems), problems
    assert not any(p.startswith("onprem.lazy:") for p in problems), problems
