"""`cobridge workloads plan|apply|status|pause|resume|abort|rollback` over a seeded site.

The plan is printed like an infrastructure-as-code plan and its exit code
says whether anything would change (0 nothing, 3 changes, 2 an error);
`apply` runs only the reviewed plan; one rollout at a time; a rolled
workload's slider cannot be set while the rollout runs; every command leaves
its audit entries.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from installer.console import cli
from tests.support.sync_rig import seeded_site

DOCUMENT = """
version = 1
[workloads.compliance]
slider = "cloud"
[rollout]
name = "compliance-wave"
[[rollout.waves]]
percent = 25
soak = "30m"
[rollout.gates]
on_trip = "pause"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A connector configuration over a seeded embedded site with co-management on."""
    seeded_site(tmp_path / "site.db", 300, seed=5).dispose()
    path = tmp_path / "connector.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "connector"}"\n'
        f'[site]\ndb = "{tmp_path / "site.db"}"\n'
        f'[cloud]\nconnector_url = "https://127.0.0.1:9"\nca_file = "{tmp_path / "root.pem"}"\n'
    )
    (tmp_path / "root.pem").write_text("not read by these commands")
    assert run("workloads", "co-management", "--config", str(path), "--enabled")[0] == 0
    return path


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    """The desired-state file: compliance to the cloud, 25% first, then the rest."""
    path = tmp_path / "desired.toml"
    path.write_text(DOCUMENT)
    return path


def run(*args: str) -> tuple[int, str]:
    """Invoke the CLI; (exit code, output with errors)."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def state_of(config: Path) -> ConnectorState:
    """The connector's state named by the configuration."""
    return ConnectorState.open(None, data_dir=ConnectorSettings.load(config).data_dir)


def test_plan_prints_the_change_and_exits_3(config: Path, desired: Path) -> None:
    code, out = run("workloads", "plan", "--config", str(config), str(desired))
    assert code == 3, out
    assert re.search(
        r"^\s*\+ compliancePolicy: wave 1 \(25%\): [\d,]+ devices? site → cloud", out, re.M
    )
    assert re.search(
        r"^\s*\+ compliancePolicy: final \(the rest\): [\d,]+ devices? site → cloud", out, re.M
    )
    plan_hash = re.search(r"^Plan hash: ([0-9a-f]{64})$", out, re.M)
    assert plan_hash, out
    assert f"--plan-hash {plan_hash[1]}" in out

    code, text = run("workloads", "plan", "--config", str(config), str(desired), "--json")
    assert code == 3
    body = json.loads(text)
    assert body["plan_hash"] == plan_hash[1], "the same plan, the same hash"
    assert body["active_rollout"] is None

    # A document the site already satisfies changes nothing: exit 0.
    nothing = desired.with_name("nothing.toml")
    nothing.write_text('version = 1\n[workloads.compliance]\nslider = "configmgr"\n')
    code, out = run("workloads", "plan", "--config", str(config), str(nothing))
    assert code == 0, out


def test_bad_documents_name_the_key(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'version = 1\n[workloads.compliance]\nslider = "cloud"\n'
        "[rollout]\n[[rollout.waves]]\npercent = 150\nsoak = 0\n"
    )
    code, out = run("workloads", "plan", "--config", str(config), str(bad))
    assert code == 2
    assert "rollout.waves[0].percent" in out
    assert "Traceback" not in out


def test_apply_only_the_reviewed_plan_then_commands(config: Path, desired: Path) -> None:
    code, out = run("workloads", "plan", "--config", str(config), str(desired), "--json")
    reviewed = json.loads(out)["plan_hash"]
    code, out = run(
        "workloads", "apply", "--config", str(config), str(desired), "--plan-hash", "0" * 64
    )
    assert code == 2
    assert "not the reviewed" in out
    code, out = run(
        "workloads",
        "apply",
        "--config",
        str(config),
        str(desired),
        "--plan-hash",
        reviewed,
        "--by",
        "ana",
    )
    assert code == 0, out
    assert "Rollout 'compliance-wave' started" in out

    code, out = run(
        "workloads", "apply", "--config", str(config), str(desired), "--plan-hash", reviewed
    )
    assert code == 2
    assert "only one rollout runs at a time" in out
    code, out = run("workloads", "set", "compliance", "configmgr", "--config", str(config))
    assert code == 2
    assert "being moved by rollout 'compliance-wave'" in out

    code, out = run("workloads", "status", "--config", str(config), "--json")
    assert code == 0, out
    status = json.loads(out)
    assert (status["name"], status["phase"], status["stage"]) == ("compliance-wave", "applying", 1)
    assert [s["label"] for s in status["stages"]] == ["wave 1 (25%)", "final (the rest)"]
    assert status["planHash"] == reviewed
    assert [e["action"] for e in status["history"]] == [
        "rollout.applied",
        "rollout.started",
        "rollout.stage_started",
    ]

    assert run("workloads", "pause", "--config", str(config), "--reason", "look")[0] == 0
    code, out = run("status", "--config", str(config), "--json")
    connector = json.loads(out)
    assert connector["rollout"]["phase"] == "paused"
    assert connector["rollout"]["active"] is True
    assert any("rollout 'compliance-wave' is paused" in n for n in connector["notices"])
    code, out = run("status", "--config", str(config))
    assert "compliance-wave (active): paused at wave 1 (25%): look" in " ".join(out.split())
    code, out = run("workloads", "pause", "--config", str(config))
    assert code == 2, "pausing a paused rollout is refused"
    assert "cannot pause" in out
    assert run("workloads", "resume", "--config", str(config))[0] == 0
    code, out = run("workloads", "rollback", "--config", str(config), "--reason", "test ends")
    assert code == 0, out
    assert "now rolling back" in out
    code, out = run("workloads", "status", "--config", str(config))
    assert code == 0
    assert "rolling back" in out
    code, out = run("workloads", "abort", "--config", str(config), "--reason", "done")
    assert code == 0, out
    code, out = run("workloads", "abort", "--config", str(config), "--reason", "again")
    assert code == 2
    assert "no rollout is active" in out

    with state_of(config) as state:
        actions = [e.action for e in state.audit.entries()]
    assert "rollout.paused" in actions
    assert "rollout.resumed" in actions
    assert actions[-1] == "rollout.aborted"
    code, out = run("audit", "verify", "--config", str(config))
    assert code == 0, out
