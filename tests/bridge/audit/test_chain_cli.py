"""`cobridge audit show|verify|export`, and the entries `workloads` and `release-deletes` leave.

Exit codes of `verify`: 0 intact, 1 tampered (with the first problem named),
2 when it cannot check.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.ports import InMemorySide
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from bridge.state.schema import audit_log
from tests.support.workloads_cli import DEVICE, config, run
from workloads.catalog import Holder, Workload

__all__ = ["config"]  # the fixture, shared with the workloads CLI tests


def entries(config: Path) -> list[dict[str, Any]]:
    """`audit show --json`, oldest first."""
    code, out = run("audit", "show", "--config", str(config), "--json", "--limit", "1000")
    assert code == 0, out
    return list(reversed(json.loads(out)))


def state_of(config: Path) -> ConnectorState:
    """The connector state the commands use."""
    return ConnectorState.open(None, data_dir=ConnectorSettings.load(config).data_dir)


def stall_a_handoff(config: Path) -> None:
    """A compliance handoff of DEVICE stuck in revoking (the site unreachable)."""
    gates = {side: InMemorySide(side) for side in Holder}
    gates[Holder.CONFIGMGR].reachable = False
    with state_of(config) as state:
        arbiter = Arbiter(state, gates, clock=lambda: datetime.now(UTC))
        asyncio.run(arbiter.reconcile({(DEVICE, Workload.COMPLIANCE): Holder.CLOUD}, complete=True))


def test_workloads_changes_leave_entries_with_who_and_what(config: Path) -> None:
    c = str(config)
    assert run("workloads", "co-management", "--config", c, "--enabled", "--actor", "ana")[0] == 0
    assert run("workloads", "set", "compliance", "cloud", "--config", c, "--by", "bob")[0] == 0
    code, out = run("workloads", "set", "office-apps", "pilot", "--config", c)
    assert code != 0, "refused: a pilot needs a collection"
    stall_a_handoff(config)
    code, out = run(
        "workloads",
        "force",
        "--device",
        DEVICE,
        "--workload",
        "compliance",
        "--reason",
        "site server rebuilt",
        "--actor",
        "ana",
        "--config",
        c,
    )
    assert code == 0, out

    logged = entries(config)
    assert [(e["seq"], e["actor"], e["action"], e["target"]) for e in logged] == [
        (1, "cli:ana", "comanagement.set", "site"),
        (2, "cli:bob", "workload.set", "compliancePolicy"),
        (3, "cli:ana", "handoff.force", f"{DEVICE}/compliancePolicy"),
    ]
    assert logged[0]["details"]["enabled"] is True
    assert logged[0]["details"]["previous"]["enabled"] is False
    assert logged[1]["details"] == {
        "slider": "cloud",
        "pilot_collection": None,
        "previous": {"slider": "configmgr", "pilot_collection": None},
    }
    assert logged[2]["details"] == {
        "reason": "site server rebuilt",
        "assumed_revoked": "configmgr",
        "granted": "cloud",
        "epoch": 1,
    }
    code, out = run("audit", "verify", "--config", c)
    assert code == 0, out
    assert out.startswith(f"ok: 3 entries, head entry 3 {logged[-1]['entry_hash']}")
    assert "this host's local audit key" in out


def test_a_local_release_of_held_deletes_is_audited(config: Path) -> None:
    with state_of(config) as state:
        state.deletes.hold(
            "cycle-7", [("GUID:A", "WKS-A"), ("GUID:B", None)], now=datetime.now(UTC)
        )
    code, out = run("connector", "release-deletes", "--config", str(config), "--by", "alice")
    assert code == 0, out
    [entry] = entries(config)
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "local:alice",
        "deletes.release",
        "all",
    )
    assert entry["details"] == {
        "count": 2,
        "cycles": {"cycle-7": 2},
        "sample": ["GUID:A", "GUID:B"],
    }
    # Nothing left to release: an error, and no entry.
    assert run("connector", "release-deletes", "--config", str(config), "--by", "alice")[0] != 0
    assert len(entries(config)) == 1


def test_verify_names_tampering_and_exits_1(config: Path) -> None:
    c = str(config)
    for slider in ("cloud", "pilot", "configmgr", "cloud"):
        extra = ["--pilot-collection", "PS100014"] if slider == "pilot" else []
        assert run("workloads", "set", "compliance", slider, "--config", c, *extra)[0] == 0
    head = entries(config)[-1]["entry_hash"]
    with state_of(config) as state, state.engine.begin() as conn:
        conn.execute(
            audit_log.update().where(audit_log.c.seq == 2).values(actor="cli:somebody-else")
        )
    code, out = run("audit", "verify", "--config", c)
    assert (code, out.splitlines()[0]) == (
        1,
        "TAMPERED: entry 2 was edited: its content does not match its hash",
    )
    code, out = run("audit", "verify", "--config", c, "--json")
    assert code == 1
    report = json.loads(out)
    assert (report["ok"], report["problem"]["seq"], report["problem"]["kind"]) == (
        False,
        2,
        "edited",
    )
    assert report["head"] == {"seq": 4, "hash": head}


def test_export_verify_file_and_expected_head(config: Path, tmp_path: Path) -> None:
    c = str(config)
    for slider in ("cloud", "configmgr", "cloud"):
        assert run("workloads", "set", "compliance", slider, "--config", c)[0] == 0
    code, out = run("audit", "show", "--config", c)
    assert code == 0, out
    head = entries(config)[-1]["entry_hash"]
    assert f"head: entry 3 {head}" in out
    export = tmp_path / "audit.jsonl"
    assert run("audit", "export", "--config", c, "--output", str(export))[0] == 0
    code, streamed = run("audit", "export", "--config", c)
    assert code == 0
    assert streamed == export.read_text(encoding="utf-8")
    assert len(export.read_text().splitlines()) == 1 + 1 + 3  # header, signer, entries

    code, out = run("audit", "verify", "--config", c, "--file", str(export), "--expect-head", head)
    assert code == 0, out
    assert "the expected head is entry 3; 0 entries since" in out

    # The newest entry cut off: only the anchored head shows it.
    with state_of(config) as state, state.engine.begin() as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 3))
    assert run("audit", "verify", "--config", c)[0] == 0
    code, out = run("audit", "verify", "--config", c, "--expect-head", head)
    assert code == 1
    assert "entries were removed from its end (it now ends at entry 2)" in out


def test_verify_cannot_check_exits_2(config: Path, tmp_path: Path) -> None:
    c = str(config)
    code, out = run("audit", "verify", "--config", c, "--expect-head", "not-a-hash")
    assert code == 2
    assert "64 hexadecimal" in out
    code, out = run("audit", "verify", "--config", c, "--file", str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert "cannot read the audit export" in out
    assert "Traceback" not in out
    (tmp_path / "bad.jsonl").write_text('{"format": "cobridge-audit-export", "version": 1}\n{')
    code, out = run("audit", "verify", "--config", c, "--file", str(tmp_path / "bad.jsonl"))
    assert code == 2
    assert "line 2" in out
    code, out = run("audit", "verify", "--config", c)
    assert (code, out.splitlines()[0]) == (0, "ok: the audit log is empty")
