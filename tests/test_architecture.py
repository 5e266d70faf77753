"""DESIGN.md section 3: the direction of imports, layers, no loops, no I/O at import time."""

from __future__ import annotations

import functools
from pathlib import Path

from tests.support.architecture import (
    CONTRACT_RULE,
    LAYER_RULE,
    LOOP_RULE,
    PACKAGE_RULE,
    SERVER_RULE,
    Violation,
    import_violations,
)
from tests.support.import_probe import import_time_io
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


@functools.cache
def _real_tree() -> tuple[Violation, ...]:
    # The real tree is scanned once for all its rules (a scan reads every module).
    return tuple(import_violations(ROOT))


def _real(rule_id: str) -> list[Violation]:
    return [v for v in _real_tree() if v.rule_id == rule_id]


def _found(root: Path, rule_id: str) -> set[tuple[str, int, str]]:
    return {(v.path, v.line, v.imported) for v in import_violations(root) if v.rule_id == rule_id}


def _message(root: Path, path: str, line: int) -> str:
    return next(str(v) for v in import_violations(root) if (v.path, v.line) == (path, line))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_project_respects_the_import_rules() -> None:
    violations = _real(PACKAGE_RULE)
    assert not violations, "\n".join(map(str, violations))


def test_project_imports_only_the_contract_of_cloud() -> None:
    violations = _real(CONTRACT_RULE)
    assert not violations, "\n".join(map(str, violations))


def test_server_never_imports_the_connector() -> None:
    violations = _real(SERVER_RULE)
    assert not violations, "\n".join(map(str, violations))


def test_layers_hold() -> None:
    violations = _real(LAYER_RULE)
    assert not violations, "\n".join(map(str, violations))


def test_no_import_loops() -> None:
    violations = _real(LOOP_RULE)
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
    found = _found(root, PACKAGE_RULE)
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


def test_checker_allows_sql_plumbing_only_in_workloads_sql(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "workloads/__init__.py": "",
            "workloads/sql/__init__.py": "from workloads.sql.engines import x\n",
            "workloads/sql/engines.py": "import sqlalchemy as sa\nfrom alembic import command\n",
            "workloads/sql/bad.py": "import asyncio\nfrom workloads.catalog import Workload\n",
            "workloads/catalog.py": "from workloads.sql import engines\n",
            "workloads/raw.py": "import alembic\n",
            "workloads/flags.py": "import enum\nfrom workloads import sql\n",
        },
    )
    assert _found(root, PACKAGE_RULE) == {
        ("workloads/sql/bad.py", 1, "asyncio"),
        ("workloads/sql/bad.py", 2, "workloads.catalog"),
        ("workloads/catalog.py", 1, "workloads.sql"),
        ("workloads/raw.py", 1, "alembic"),
        ("workloads/flags.py", 2, "workloads"),
    }
    assert "workloads.sql imports nothing of the project" in _message(
        root, "workloads/sql/bad.py", 2
    )
    assert _message(root, "workloads/catalog.py", 1) == (
        "workloads/catalog.py:1 imports workloads.sql: the pure domain never imports workloads.sql"
    )


def test_checker_lets_only_composition_roots_name_the_server(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "cloud/__init__.py": "",
            "bridge/__init__.py": "",
            "bridge/sync/__init__.py": "from cloud.contract.inventory import IngestBatch\n",
            "bridge/sync/upload.py": "import os\nfrom cloud.service.app import running\n",
            "bridge/tenant/__init__.py": "from cloud import tls\n",
            "installer/__init__.py": "",
            "installer/console.py": "from cloud.service.cli import cloud\n",
            "installer/demo/system.py": "from cloud.server.app import running\n",
            "installer/demo/seed.py": "from cloud.store.engine import migrate_store\n",
            "installer/install.py": "from cloud.service.state import open_state\n",
        },
    )
    assert _found(root, CONTRACT_RULE) == {
        ("bridge/sync/upload.py", 2, "cloud.service.app"),
        ("bridge/tenant/__init__.py", 1, "cloud"),
        ("installer/demo/seed.py", 1, "cloud.store.engine"),
        ("installer/install.py", 1, "cloud.service.state"),
    }
    assert _message(root, "installer/install.py", 1).startswith(
        "installer/install.py:1 imports cloud.service.state: of cloud only cloud.contract"
    )


def test_checker_keeps_the_connector_out_of_the_server(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "cloud/__init__.py": "",
            "cloud/service/routes.py": "import json\nfrom bridge.tenant.client import Tenant\n",
        },
    )
    assert _found(root, SERVER_RULE) == {("cloud/service/routes.py", 2, "bridge.tenant.client")}
    assert "the server never imports the connector" in _message(root, "cloud/service/routes.py", 2)


def test_checker_keeps_layers_and_asks_for_undeclared_ones(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bridge/__init__.py": "",
            "bridge/state/__init__.py": "",
            "bridge/state/store.py": "from bridge.mapping import x\nfrom bridge.cli.main import y\n",
            "bridge/mapping.py": "",
            "bridge/settings_extra.py": "from bridge.sync import engine\n",
            "bridge/sync/__init__.py": "",
            "bridge/sync/engine.py": "from bridge.state import store\nfrom bridge.settings import z\n",
            "bridge/settings.py": "",
            "bridge/cli/__init__.py": "",
            "bridge/cli/main.py": "from bridge.runtime.runner import run\n",
            "bridge/runtime/__init__.py": "",
            "bridge/runtime/runner.py": "",
            "bridge/gadgets/__init__.py": "",
            "cloud/__init__.py": "",
            "cloud/store/__init__.py": "",
            "cloud/store/devices.py": "\nfrom cloud.service.app import build\n",
            "cloud/service/__init__.py": "",
            "cloud/service/app.py": "from cloud.store import devices\n",
            "cloud/server/__init__.py": "from cloud.admin_center import pages\n",
            "cloud/admin_center/__init__.py": "",
            "cloud/admin_center/pages.py": "",
        },
    )
    assert _found(root, LAYER_RULE) == {
        ("bridge/state/store.py", 2, "bridge.cli.main"),
        ("bridge/settings_extra.py", 1, "bridge.sync"),
        ("bridge/gadgets/__init__.py", 1, "bridge.gadgets"),
        ("cloud/store/devices.py", 2, "cloud.service.app"),
    }
    assert _message(root, "bridge/state/store.py", 2) == (
        "bridge/state/store.py:2 imports bridge.cli.main: bridge.state (layer 1) may not import "
        "bridge.cli (layer 6): a module imports only its own layer or lower ones"
    )
    assert "declare its layer" in _message(root, "bridge/gadgets/__init__.py", 1)


def test_checker_finds_loops_between_subpackages_and_files(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bridge/__init__.py": "",
            "bridge/sync/__init__.py": "",
            "bridge/sync/engine.py": "from bridge.actions.relay import relay\n",
            "bridge/actions/__init__.py": "",
            "bridge/actions/relay.py": "import os\n\ndef relay():\n    from bridge.sync import cursor\n",
            "bridge/sync/cursor.py": "",
            "onprem/__init__.py": "",
            "onprem/winrm/__init__.py": "",
            "onprem/winrm/a.py": "from onprem.winrm.b import x\n",
            "onprem/winrm/b.py": "from onprem.winrm.c import y\n",
            "onprem/winrm/c.py": "from onprem.winrm import a\n",
            "onprem/winrm/d.py": "from onprem.winrm.a import x\n",
            "onprem/site.py": "from onprem import store\n",
            "onprem/store.py": "import onprem.site\n",
        },
    )
    assert _found(root, LOOP_RULE) == {
        ("bridge/sync/engine.py", 1, "bridge.actions.relay"),
        ("bridge/actions/relay.py", 4, "bridge.sync"),
        ("onprem/winrm/a.py", 1, "onprem.winrm.b"),
        ("onprem/winrm/b.py", 1, "onprem.winrm.c"),
        ("onprem/winrm/c.py", 1, "onprem.winrm.a"),
        ("onprem/site.py", 1, "onprem.store"),
        ("onprem/store.py", 1, "onprem.site"),
    }
    assert _message(root, "onprem/winrm/c.py", 1) == (
        "onprem/winrm/c.py:1 imports onprem.winrm.a: import loop between files: "
        "onprem.winrm.a, onprem.winrm.b, onprem.winrm.c"
    )
    assert "import loop between parts of bridge: bridge.actions, bridge.sync" in _message(
        root, "bridge/sync/engine.py", 1
    )
    assert "import loop between parts of onprem: onprem.site, onprem.store" in _message(
        root, "onprem/site.py", 1
    )
