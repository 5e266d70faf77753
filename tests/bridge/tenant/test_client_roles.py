"""The tenant clients stay split by role: the connector's, the admin's, a device's.

The connector's product modules (`bridge/` but its tenant client and its CLI)
hold only a `ConnectorClient`: they never import the admin's or a device's
client. `ConnectorClient` offers exactly the calls the connector makes, so
an admin call added to it is caught here. Both checks are also run on
deliberately broken input, to show that they fail.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

from bridge.tenant.admin import AdminClient
from bridge.tenant.checkin import CheckInClient
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.core import ClientCore
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT

# Where a client of another role may be named: the tenant clients themselves, and the CLI.
ROLE_CLIENT_HOMES = ("bridge/tenant", "bridge/cli")
# The admin's and a device's clients, by module and by name.
FORBIDDEN_MODULES = ("bridge.tenant.admin", "bridge.tenant.checkin")
FORBIDDEN_NAMES = frozenset({"AdminClient", "CheckInClient"})

# What the connector calls: over its mutual-TLS listener, and anonymously to enroll.
CONNECTOR_CALLS = frozenset(
    {
        "enroll",
        "renew",
        "register_hierarchy",
        "heartbeat",
        "ingest",
        "ingest_encoded",
        "healthz",
        "held_devices",
        "authority_commands",
        "report_authority",
        "send_directory_computers",
        "claim_actions",
        "mark_running",
        "report_action",
        "send_audit_entries",
        "queued_rollout_orders",
        "post_rollout_result",
        "report_rollout_status",
    }
)
# Connector calls that only the benches and tests make on the connector's behalf:
# `ingest` uploads a batch it encodes itself (the runtime sends its outbox's bytes
# with `ingest_encoded`), `healthz` asks whether the service is up.
TOOL_ONLY_CALLS = frozenset({"ingest", "healthz"})


def _forbidden_import(node: ast.AST, module: str) -> str | None:
    """The admin or device client `node` imports, if any."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = module.split(".")[: -node.level] if node.level else []
        source = ".".join([*base, node.module] if node.module else base)
        names = [source] + [f"{source}.{alias.name}" for alias in node.names]
        # Only the tenant package's names count: another package may name a class alike.
        named = [alias.name for alias in node.names if alias.name in FORBIDDEN_NAMES]
        if named and source.startswith("bridge.tenant"):
            return f"{source} ({', '.join(named)})"
    else:
        return None
    for name in names:
        if any(name == m or name.startswith((m + "_", m + ".")) for m in FORBIDDEN_MODULES):
            return name
    return None


def role_client_imports(root: Path) -> list[str]:
    """`path:line imports X` for each import of the admin's or a device's client in the connector."""
    found = []
    for path in sorted((root / "bridge").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(tuple(home + "/" for home in ROLE_CLIENT_HOMES)):
            continue
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
            imported = _forbidden_import(node, module)
            if imported is not None:
                found.append(f"{rel}:{node.lineno} imports {imported}")  # type: ignore[attr-defined]
    return found


def surface_problems(client: type[ClientCore], calls: frozenset[str]) -> list[str]:
    """How the public calls of `client` (beyond `ClientCore`'s) differ from `calls`."""
    offered = {
        name
        for name, _ in inspect.getmembers(client, inspect.isfunction)
        if not name.startswith("_") and not hasattr(ClientCore, name)
    }
    return [f"{name}: not a connector call" for name in sorted(offered - calls)] + [
        f"{name}: missing" for name in sorted(calls - offered)
    ]


def called_names(
    root: Path, folders: tuple[str, ...], names: frozenset[str], skip: tuple[str, ...] = ()
) -> set[str]:
    """Which of `names` are called as `x.name(...)` in the Python files of `folders`, outside `skip`."""
    called: set[str] = set()
    for folder in folders:
        for path in (root / folder).rglob("*.py"):
            if path.relative_to(root).as_posix().startswith(skip):
                continue
            text = path.read_text(encoding="utf-8")
            if not any(f".{name}(" in text for name in names):
                continue  # parsing is the slow part: only files that may call one
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    called.add(node.func.attr)
    return called & names


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_the_connectors_modules_never_import_the_admin_or_check_in_client() -> None:
    assert role_client_imports(ROOT) == []


def test_the_import_check_fails_on_a_tree_that_leaks_a_role(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bridge/sync/leak.py": "from bridge.tenant.admin import AdminClient\n",
            "bridge/arbiter/checkin.py": "from bridge.tenant import checkin\n",
            "bridge/rollout/orders.py": "import bridge.tenant.admin_rollouts\n",
            "bridge/runtime/relative.py": "from ..tenant.checkin import CheckInClient\n",
            "bridge/audit/fine.py": "from bridge.tenant.connector import ConnectorClient\n",
            "bridge/tenant/admin.py": "from bridge.tenant.admin_actions import AdminActionCalls\n",
            "bridge/cli/admin.py": "from bridge.tenant.admin import AdminClient\n",
        },
    )
    assert role_client_imports(root) == [
        "bridge/arbiter/checkin.py:1 imports bridge.tenant.checkin",
        "bridge/rollout/orders.py:1 imports bridge.tenant.admin_rollouts",
        "bridge/runtime/relative.py:1 imports bridge.tenant.checkin (CheckInClient)",
        "bridge/sync/leak.py:1 imports bridge.tenant.admin (AdminClient)",
    ]


def test_the_connector_client_offers_exactly_the_connectors_calls() -> None:
    assert surface_problems(ConnectorClient, CONNECTOR_CALLS) == []
    assert surface_problems(CheckInClient, frozenset({"check_in"})) == []
    admin_calls = {n for n in dir(AdminClient) if not n.startswith("_")} - set(dir(ClientCore))
    assert admin_calls.isdisjoint(CONNECTOR_CALLS)
    assert "check_in" not in admin_calls | CONNECTOR_CALLS


def test_every_connector_call_is_one_the_connector_makes() -> None:
    # The connector's product code (its runtime, and the installer acting as it) makes
    # every call of `ConnectorClient` but those made only by the benches and tests.
    runtime_calls = CONNECTOR_CALLS - TOOL_ONLY_CALLS
    made = called_names(ROOT, ("bridge", "installer"), runtime_calls, skip=("bridge/tenant/",))
    assert made == runtime_calls, runtime_calls - made
    assert called_names(ROOT, ("bench", "tests"), TOOL_ONLY_CALLS) == TOOL_ONLY_CALLS


def test_the_surface_check_fails_when_an_admin_call_joins_the_connector_client() -> None:
    class Leaky(ConnectorClient):
        async def me(self) -> None:
            """An admin call where it does not belong."""

    assert surface_problems(Leaky, CONNECTOR_CALLS) == ["me: not a connector call"]
    assert surface_problems(ConnectorClient, CONNECTOR_CALLS | {"rollout"}) == ["rollout: missing"]
