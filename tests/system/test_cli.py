"""The `cobridge` command as a user runs it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from onprem.site_database import create_site_engine
from onprem.site_store import migrate_site
from tests.support.cli_process import COBRIDGE, run


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_names_host_and_hides_password() -> None:
    port = _closed_port()
    done = run(
        "onprem", "summary", "--db", f"postgresql://reader:s3cret-pw@127.0.0.1:{port}/CM_PS1"
    )
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr
    assert "CM_PS1" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert "hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_unsupported_url_is_a_clear_error() -> None:
    done = run("onprem", "summary", "--db", "mysql://host/db")
    assert done.returncode == 2
    assert "unsupported site database type 'mysql'" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_view_is_named_by_check(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    engine = create_site_engine(f"sqlite:///{db}")
    migrate_site(engine)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE "v_GS_PC_BIOS"'))
        conn.execute(sa.text('ALTER TABLE "v_R_System" DROP COLUMN "AADDeviceID"'))
    engine.dispose()
    done = run("onprem", "check", "--db", str(db))
    assert done.returncode == 2
    assert "FAIL  missing v_R_System.AADDeviceID" in done.stdout
    assert "FAIL  missing v_GS_PC_BIOS" in done.stdout
    assert "Traceback" not in done.stderr
    summary = run("onprem", "summary", "--db", str(db))
    assert summary.returncode == 2
    assert "v_GS_PC_BIOS" in summary.stderr


def test_bad_option_is_a_usage_error() -> None:
    done = run("onprem", "seed", "--db", "x.db", "--devices", "10", "--site-code", "TOOLONG")
    assert done.returncode == 2
    assert "site code is exactly 3" in done.stderr
    assert "Traceback" not in done.stderr


def test_seed_check_summary_touch_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    seeded = run(
        "onprem",
        "seed",
        "--db",
        str(db),
        "--devices",
        "400",
        "--seed",
        "3",
        "--as-of",
        "2026-11-01",
        "--json",
    )
    assert seeded.returncode == 0, seeded.stderr
    report = json.loads(seeded.stdout)
    assert report["devices"] >= 400
    again = run("onprem", "seed", "--db", str(db), "--devices", "400")
    assert again.returncode == 2
    assert "replace" in again.stderr

    check = run("onprem", "check", "--db", str(db))
    assert check.returncode == 0, check.stderr
    assert "PASS" in check.stdout
    assert report["site_code"] in check.stdout

    summary = json.loads(run("onprem", "summary", "--db", str(db), "--json").stdout)
    assert summary["rows"] == report["devices"]
    assert summary["records"] + summary["rejected"] == summary["rows"]
    assert summary["rejected"] == sum(len(ids) for ids in report["invalid"].values())
    assert summary["hierarchy_id"] == report["hierarchy_id"]

    touched = run("onprem", "touch", "--db", str(db), "--devices", "40", "--seed", "9", "--json")
    assert touched.returncode == 0, touched.stderr
    changes = json.loads(touched.stdout)
    after = json.loads(run("onprem", "summary", "--db", str(db), "--json").stdout)
    assert after["rows"] == summary["rows"] + len(changes["added"]) - len(changes["deleted"])

    rejects = run("onprem", "rejects", "--db", str(db))
    lines = [json.loads(line) for line in rejects.stdout.splitlines()]
    assert len(lines) == after["rejected"]
    assert all(line["reason"] and line["column"] for line in lines)


def test_demo_once_syncs_exactly_and_reuses_its_site_and_tenant(tmp_path: Path) -> None:
    first = run("demo", "--once", "--data-dir", str(tmp_path / "demo"), "--devices", "300")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["exact"] is True
    assert summary["site_devices"] + summary["rejected"] >= 300
    assert summary["attached_devices"] == summary["expected_devices"] > 0
    assert {"quarantined", "seconds", "api_url"} <= set(summary)
    assert summary["cycle"]["upserted"] == summary["attached_devices"]
    # The demo site's co-management: the arbiter handed the workloads off, all settled.
    co_management = summary["co_management"]
    assert co_management["co_managed"] > 0
    assert co_management["begun"] == co_management["settled"] == co_management["desired_on_cloud"]
    assert co_management["in_flight"] == 0
    second = run("demo", "--once", "--data-dir", str(tmp_path / "demo"), "--devices", "999")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert again["site_devices"] == summary["site_devices"], "an existing demo site is reused"
    assert again["cycle"]["uploads"] == 0, "the enrolled connector resumes with a delta"
    assert again["co_management"]["begun"] == 0, "nothing to hand off again"


def test_demo_runs_a_staged_rollout_to_its_end(tmp_path: Path) -> None:
    args = ("demo", "--once", "--rollout", "--data-dir", str(tmp_path / "demo"))
    first = run(*args, "--devices", "400", "--interval", "1")
    assert first.returncode == 0, first.stderr
    rollout = json.loads(first.stdout.strip().splitlines()[-1])["rollout"]
    assert rollout["devices_changing"] > 0
    # Stage by stage: each of the three applied in turn, the first two soaked, then completed.
    assert rollout["phases"][-1] == "completed"
    assert [
        s for p, s in zip(rollout["phases"], rollout["stages"], strict=True) if p == "soaking"
    ] == [1, 2]
    assert sorted(set(rollout["stages"])) == [1, 2, 3]
    assert (tmp_path / "demo" / "rollout.toml").exists()
    audit = run("audit", "verify", "--config", str(tmp_path / "demo" / "connector.toml"))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    # Once it ran, the site is as the document says: nothing more to roll out.
    again = run(*args, "--interval", "1")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["rollout"]["already_done"] is True


def test_demo_keeps_running_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            *COBRIDGE,
            "demo",
            "--data-dir",
            str(tmp_path / "demo"),
            "--devices",
            "200",
            "--port",
            "0",
            "--connector-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Watching for deltas" in line:
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    text = "".join(lines) + out
    assert process.returncode == 0, err
    assert "onprem touch" in text
    assert "token: cbt_" in text
    assert "exact" in text
    assert "Traceback" not in err


def test_cloud_serve_certificate_names_the_loopback_address(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            *COBRIDGE,
            "cloud",
            "serve",
            "--data-dir",
            str(tmp_path / "cloud"),
            "--port",
            "0",
            "--connector-port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert "API https://" in first, first
        url = first.split("API ", 1)[1].strip()
        context = ssl.create_default_context(cafile=str(tmp_path / "cloud" / "service-root.pem"))
        with urllib.request.urlopen(f"{url}/healthz", context=context, timeout=10) as answer:
            assert answer.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
