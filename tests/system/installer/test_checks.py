"""Each failing prerequisite yields its FAIL (or WARN) and a fix, and an unattended install stops.

The checks run on real things: the cloud service process and a seeded site
of `installer_rig`, a copy of a seeded SQLite site with a view or a column
dropped, closed ports, a CA that issued nothing, an HTTPS server whose
`Date` header is an hour off, a port held open. No secret appears in any
result.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from installer.answers import InstallAnswers
from installer.checks import CheckResult
from installer.layout import Layout
from installer.problems import AnswersError
from tests.support.installer_rig import (
    UNSPENT_CODE,
    Rig,
    install,
    prerequisites,
    run_cli,
    shown,
)
from tests.support.installer_servers import closed_port, other_ca, skewed_https_server
from tests.support.system_sites import seed

DIRECTORY_PASSWORD = "Dir-Pa55-never-to-be-seen"

pytest_plugins = ["tests.support.installer_rig"]


@pytest.fixture(scope="module")
def small_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small-site") / "site.db"
    seed(str(path), 20, 3)
    return path


def checks(given: InstallAnswers, prefix: Path) -> dict[str, CheckResult]:
    found = prerequisites(given, prefix)
    password = given.site.password.get_secret_value() if given.site.password else None
    assert shown(found, [UNSPENT_CODE, DIRECTORY_PASSWORD, password]) == []
    return found


def failing(found: dict[str, CheckResult], name: str) -> CheckResult:
    result = found[name]
    assert result.status == "FAIL", result
    assert result.fix, result
    others = [r.name for r in found.values() if r.status == "FAIL" and r.name != name]
    assert others == [], others
    return result


def test_a_good_setup_passes(rig: Rig, tmp_path: Path) -> None:
    found = checks(rig.install_answers(), tmp_path / "p")
    assert {n: r.status for n, r in found.items()} == {
        "python": "PASS",
        "site database": "PASS",
        "directory": "SKIP",
        "winrm": "SKIP",
        "cloud connector URL": "PASS",
        "cloud API URL": "PASS",
        "clock skew": "PASS",
        "free disk": "PASS",
        "permissions": "PASS",
        "metrics port": "PASS",
        "enrollment": "PASS",
    }


@pytest.mark.parametrize(
    ("sql", "missing"),
    [
        ("DROP TABLE v_GS_PC_BIOS", "v_GS_PC_BIOS"),
        (
            "ALTER TABLE v_GS_OPERATING_SYSTEM DROP COLUMN Caption0",
            "v_GS_OPERATING_SYSTEM.Caption0",
        ),
    ],
)
def test_a_missing_view_or_column_is_named(
    rig: Rig, small_site: Path, tmp_path: Path, sql: str, missing: str
) -> None:
    copy = tmp_path / "site-copy.db"
    shutil.copy(small_site, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute(sql)
    result = failing(
        checks(rig.install_answers(site={"db": str(copy), "password": None}), tmp_path),
        "site database",
    )
    assert result.detail.endswith(f"lacks {missing}")
    assert "grant the account SELECT" in result.fix


def test_an_unreachable_database_fails_without_its_password(rig: Rig, tmp_path: Path) -> None:
    port = closed_port()
    site = {"db": f"postgresql://reader@127.0.0.1:{port}/CM_PS1", "password": "Pw-of-a-db"}
    result = failing(checks(rig.install_answers(site=site), tmp_path), "site database")
    assert f"127.0.0.1:{port}" in result.detail
    assert "Pw-of-a-db" not in result.detail + (result.fix or "")
    assert "credentials" in (result.fix or "")


def test_an_unknown_database_account_fails(rig: Rig, tmp_path: Path) -> None:
    if rig.db_password is None:
        pytest.skip("needs the PostgreSQL site (COBRIDGE_TEST_PG_URL)")
    import sqlalchemy as sa

    url = sa.make_url(rig.site_answer).set(username="no_such_reader")
    site = {"db": url.render_as_string(hide_password=False), "password": "Pw-of-nobody"}
    result = failing(checks(rig.install_answers(site=site), tmp_path), "site database")
    assert "no_such_reader" in result.detail
    assert "Pw-of-nobody" not in result.detail


def test_a_bad_database_url_names_the_key_and_hides_the_password(rig: Rig) -> None:
    given = rig.install_answers(
        site={"db": "mssql://svc:Hidden-Pw@sql01:notaport/CM_PS1", "password": None}
    )
    with pytest.raises(AnswersError) as caught:
        given.to_settings()
    assert caught.value.problems == [
        "site.db: not a usable site database URL (type mssql://) -> use "
        "mssql://user:password@host/CM_<site code>, postgresql://... or a SQLite file path"
    ]
    assert "Hidden-Pw" not in str(caught.value)


def test_an_unreachable_cloud_host(rig: Rig, tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{closed_port()}"
    result = failing(
        checks(rig.install_answers(cloud={"connector_url": url}), tmp_path), "cloud connector URL"
    )
    assert result.detail.startswith("cannot reach 127.0.0.1:")
    assert "firewall" in (result.fix or "")


def test_an_untrusted_certificate_chain(rig: Rig, tmp_path: Path) -> None:
    ca = other_ca(tmp_path / "other.pem")
    found = checks(rig.install_answers(cloud={"ca_file": str(ca)}), tmp_path / "p")
    for name in ("cloud connector URL", "cloud API URL"):
        assert found[name].status == "FAIL"
        assert "is not trusted by" in found[name].detail
        assert "service-root.pem" in (found[name].fix or "")
    assert found["clock skew"].status == "SKIP"


@pytest.mark.parametrize(("minutes", "status"), [(-60, "FAIL"), (3, "WARN")])
def test_a_skewed_clock(rig: Rig, tmp_path: Path, minutes: int, status: str) -> None:
    with skewed_https_server(tmp_path, timedelta(minutes=minutes)) as (url, ca):
        cloud = {"connector_url": url, "api_url": url, "ca_file": str(ca)}
        found = checks(rig.install_answers(cloud=cloud), tmp_path / "p")
    assert found["cloud connector URL"].status == "PASS"
    clock = found["clock skew"]
    assert clock.status == status, clock
    side = "ahead of" if minutes < 0 else "behind"
    assert f"s {side} the service's clock" in clock.detail
    assert "NTP" in (clock.fix or "")


def test_no_attach_code_and_not_enrolled(rig: Rig, tmp_path: Path) -> None:
    result = failing(
        checks(rig.install_answers(cloud={"attach_code": None}), tmp_path), "enrollment"
    )
    assert "attach-code create" in (result.fix or "")


def test_the_metrics_port_in_use(rig: Rig, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = failing(
            checks(rig.install_answers(service={"metrics_port": port}), tmp_path), "metrics port"
        )
    assert result.detail == f"127.0.0.1:{port} is in use by another program"


def test_a_readable_configuration_directory(rig: Rig, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "p")
    layout.config_dir.mkdir(parents=True, mode=0o755)
    layout.config_dir.chmod(0o755)
    layout.config.write_text("")
    layout.config.chmod(0o644)
    result = failing(checks(rig.install_answers(), layout.prefix), "permissions")
    assert result.fix == f"chmod 700 {layout.config_dir}; chmod 600 {layout.config}"


def test_an_unreachable_directory_and_actions_without_winrm_checks(
    rig: Rig, tmp_path: Path
) -> None:
    directory = {
        "enabled": True,
        "hosts": ["127.0.0.1"],
        "port": closed_port(),
        "tls": "plain",
        "bind_dn": "CN=svc,DC=corp,DC=example",
        "password": DIRECTORY_PASSWORD,
        "base_dns": ["OU=Workstations,DC=corp,DC=example"],
    }
    actions = {"enabled": True, "winrm_user": "CORP\\svc", "winrm_password": "Pa55-word"}
    given = rig.install_answers(directory=directory, actions=actions)
    found = checks(given, tmp_path)
    assert found["directory"].status == "FAIL"
    assert "cannot connect" in found["directory"].detail
    assert found["winrm"].status == "SKIP"
    assert found["winrm"].detail == "no test device configured: WinRM reachability is not checked"
    # Actions without an account are refused, naming the keys and the fix.
    with pytest.raises(AnswersError) as refused:
        checks(rig.install_answers(actions={"enabled": True}), tmp_path)
    assert "actions.username: missing" in str(refused.value)
    assert "secret:winrm_password" in str(refused.value)


def test_an_unattended_install_stops_before_writing(rig: Rig, tmp_path: Path) -> None:
    answers_file = rig.answers(tmp_path / "answers.toml", cloud={"attach_code": ""})
    prefix = tmp_path / "prefix"
    done = install(answers_file, prefix, "--json", env=rig.env(None))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "1 prerequisite check(s) failed (enrollment): nothing was written" in done.stderr
    assert "--force" in done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["installed"] is False
    assert [c["name"] for c in report["checks"] if c["status"] == "FAIL"] == ["enrollment"]
    assert not prefix.exists()


def test_a_dry_run_writes_nothing(rig: Rig, tmp_path: Path) -> None:
    answers_file = rig.answers(tmp_path / "answers.toml")
    prefix = tmp_path / "prefix"
    args = ("install", "--answers", str(answers_file), "--prefix", str(prefix), "--dry-run")
    done = run_cli(*args, env=rig.env(UNSPENT_CODE))
    assert done.exit_code == 0, done.output
    assert "nothing was written" in done.stdout
    assert str(Layout(prefix).config) in done.stdout
    assert not prefix.exists()
    assert UNSPENT_CODE not in done.output


def test_force_goes_past_a_failure(rig: Rig, tmp_path: Path) -> None:
    answers_file = rig.answers(tmp_path / "answers.toml", cloud={"attach_code": ""})
    prefix = tmp_path / "prefix"
    args = ("install", "--answers", str(answers_file), "--prefix", str(prefix))
    done = run_cli(*args, "--dry-run", "--force", env=rig.env(None))
    assert done.exit_code == 0, done.output
    assert "1 FAIL" in done.stdout
    assert "An install would write" in done.stdout
    assert not prefix.exists()
