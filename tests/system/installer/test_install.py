"""`cobridge install` unattended, against a real cloud service process and a seeded site.

One install into a temporary prefix is shared by most tests here: it enrolls,
runs the connector once, and the tenant then holds exactly what the site
holds. Then: file modes, no secret in any file or output, a second install
changes nothing and enrolls nothing, doctor, renewal and rotation, and
uninstall with a backup or with nothing left behind (and the detach).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from installer.layout import Layout
from tests.support.installer_rig import Rig, digests, files_holding, install, run_cli
from tests.support.system_checks import Stores, assert_tenant_matches_site, store_url
from tests.support.system_processes import COBRIDGE

pytest_plugins = ["tests.support.installer_rig"]


@dataclass
class Installed:
    """The shared install: where it went and what it printed."""

    layout: Layout
    answers: Path
    attach_code: str
    outputs: list[str]

    def secrets(self, rig: Rig) -> list[str]:
        return [s for s in (self.attach_code, rig.db_password) if s]


@pytest.fixture(scope="module")
def installed(rig: Rig) -> Installed:
    code = rig.tenant.attach_code()
    answers = rig.answers(rig.root / "answers.toml")
    layout = Layout(rig.root / "prefix")
    done = install(answers, layout.prefix, "--json", env=rig.env(code))
    assert done.returncode == 0, done.stdout + done.stderr
    return Installed(layout, answers, code, [done.stdout, done.stderr])


def test_the_install_syncs_and_the_tenant_lists_the_devices(rig: Rig, installed: Installed) -> None:
    report = json.loads(installed.outputs[0])
    assert report["installed"] is True
    assert report["failed"] == 0
    assert {c["status"] for c in report["checks"]} <= {"PASS", "SKIP"}
    assert report["first_run"] == {
        "finished": True,
        "exit": 0,
        "log": str(installed.layout.first_run_log),
    }
    assert report["heartbeat_at"]
    assert report["admin_center"] == rig.service.api_url
    assert report["run"].endswith(f"connector run --config {installed.layout.config}")
    stores = Stores(
        cloud=store_url(None, rig.service.data_dir / "cloud.db"),
        connector=store_url(None, installed.layout.data_dir / "connector-state.db"),
        tenant_id=rig.tenant.tenant_id,
    )
    devices = assert_tenant_matches_site(rig.site_db, stores, rig.tenant, "after the install")
    assert devices > 250
    (hierarchy,) = rig.hierarchies()
    assert hierarchy.last_heartbeat_at is not None
    assert hierarchy.connector_id == report["connector_id"]


def test_files_are_private(installed: Installed) -> None:
    layout = installed.layout
    modes = {p: p.stat().st_mode & 0o777 for p in (layout.prefix.rglob("*"))}
    assert modes[layout.config_dir] == 0o700
    assert modes[layout.data_dir] == 0o700
    for private in (layout.config, layout.master_key, layout.secrets, layout.manifest):
        assert modes[private] == 0o600, private
    for name in ("connector.key", "connector.pem", "enrollment.json", "first-run.log"):
        assert modes[layout.data_dir / name] == 0o600, name
    assert modes[layout.unit] == 0o644
    key = serialization.load_pem_private_key((layout.data_dir / "connector.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


def test_no_secret_in_any_file_or_output(rig: Rig, installed: Installed) -> None:
    secrets = installed.secrets(rig)
    assert len(secrets) == (2 if rig.db_password else 1)
    assert files_holding(installed.layout.prefix, secrets) == []
    status = run_cli("status", "--config", str(installed.layout.config))
    doctor = run_cli("doctor", "--prefix", str(installed.layout.prefix))
    for text in [*installed.outputs, status.stdout, status.stderr, doctor.stdout, doctor.stderr]:
        for secret in secrets:
            assert secret not in text
    config = installed.layout.config.read_text()
    assert 'db = "secret:site_db"' in config
    assert "attach_code" not in config


def test_a_second_install_changes_nothing_and_enrolls_nothing(
    rig: Rig, installed: Installed
) -> None:
    layout = installed.layout
    kept = [
        layout.config,
        layout.master_key,
        layout.secrets,
        layout.ca_file,
        layout.unit,
        layout.manifest,
        *(layout.data_dir / n for n in ("connector.key", "connector.pem", "enrollment.json")),
    ]
    before = digests(kept)
    connectors = len(rig.connectors())
    # The same answers, the same (spent) attach code: enrolling again would be refused.
    done = install(installed.answers, layout.prefix, env=rig.env(installed.attach_code))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every file was up to date" in done.stdout
    assert "already enrolled" in done.stdout
    assert "heartbeat received" in done.stdout
    assert digests(kept) == before
    assert len(rig.connectors()) == connectors


def test_doctor_passes_and_shows_the_status(installed: Installed) -> None:
    done = run_cli("doctor", "--prefix", str(installed.layout.prefix), "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["failed"] == 0
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["enrollment"]["status"] == "PASS"
    assert by_name["permissions"]["detail"].endswith("private (0700, files 0600)")
    assert report["status"]["healthy"] is True
    assert report["status"]["last_cycle"]["outcome"] == "ok"
    table = run_cli("doctor", "--prefix", str(installed.layout.prefix))
    assert "Prerequisites" in table.stdout
    assert "last cycle" in table.stdout


def test_renewal_and_rotation_keep_the_connector_working(rig: Rig, installed: Installed) -> None:
    layout = installed.layout
    prefix = str(layout.prefix)
    chain = (layout.data_dir / "connector.pem").read_bytes()
    not_due = run_cli("renew", "--prefix", prefix)
    assert not_due.exit_code == 0, not_due.output
    assert "not due yet" in not_due.stdout
    forced = run_cli("renew", "--prefix", prefix, "--force")
    assert forced.exit_code == 0, forced.output
    assert (layout.data_dir / "connector.pem").read_bytes() != chain
    key, sealed = layout.master_key.read_bytes(), layout.secrets.read_bytes()
    rotated = run_cli("secrets", "rotate", "--prefix", prefix)
    assert rotated.exit_code == 0, rotated.output
    assert "1 secret(s) re-sealed" in rotated.stdout
    assert layout.master_key.read_bytes() != key
    assert layout.secrets.read_bytes() != sealed
    assert not layout.next_master_key.exists()
    assert layout.master_key.stat().st_mode & 0o777 == 0o600
    if rig.db_password:
        same = run_cli(
            "secrets", "set", "site_db_password", "--prefix", prefix, "--value-stdin",
            input_text=rig.db_password + "\n",
        )  # fmt: skip
        assert same.exit_code == 0, same.output
        assert "secret site_db unchanged" in same.stdout
    refused = run_cli("secrets", "set", "attach_code", "--prefix", prefix, "--value-stdin")
    assert refused.exit_code == 2
    assert "never stored" in refused.stderr
    assert run_cli("secrets", "list", "--prefix", prefix).stdout.split() == ["site_db"]
    once = subprocess.run(
        [COBRIDGE, "connector", "run", "--config", str(layout.config), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert once.returncode == 0, once.stderr[-2000:]


def test_uninstall_keeps_a_backup_and_purge_leaves_nothing(rig: Rig, tmp_path: Path) -> None:
    kept, purged = Layout(tmp_path / "kept"), Layout(tmp_path / "purged")
    for layout in (kept, purged):
        answers = rig.answers(tmp_path / f"{layout.prefix.name}.toml")
        args = ("install", "--answers", str(answers), "--prefix", str(layout.prefix))
        done = run_cli(*args, env=rig.env(rig.tenant.attach_code()))
        assert done.exit_code == 0, done.output

    done = run_cli("uninstall", "--prefix", str(kept.prefix))
    assert done.exit_code == 0, done.output
    assert "stays attached" in done.stdout
    left = sorted(p.relative_to(kept.prefix).as_posix() for p in kept.prefix.rglob("*"))
    (backup,) = [p for p in left if p.startswith("etc/cobridge.bak-") and p.count("/") == 1]
    assert [p for p in left if p != "etc" and not p.startswith(backup)] == [], left
    assert (kept.prefix / backup / "connector.toml").exists()
    assert (kept.prefix / backup).stat().st_mode & 0o777 == 0o700

    no_token = run_cli("uninstall", "--prefix", str(purged.prefix), "--detach", "--purge")
    assert no_token.exit_code == 2
    assert "nothing was removed" in no_token.stderr
    assert purged.config.exists()
    done = run_cli(
        "uninstall", "--prefix", str(purged.prefix), "--detach", "--purge",
        env={"COBRIDGE_ADMIN_TOKEN": rig.tenant.token},
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "detached at the tenant" in done.stdout
    assert not purged.prefix.exists()
    (hierarchy,) = rig.hierarchies()
    assert hierarchy.detached_at is not None
