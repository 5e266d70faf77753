"""The directory prerequisite against a real Samba AD DC, and an install that keeps its password.

A bind as the service account with every base DN found passes; a wrong
password and a base DN that does not exist each fail with their fix, the
password never shown. An install with the directory on stores the bind
password only encrypted: no file under the prefix and no output holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from installer.layout import Layout
from tests.support.installer_rig import Rig, files_holding, prerequisites, run_cli, shown
from tests.support.samba_dc import (
    HOST,
    SERVERS_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    WORKSTATIONS_DN,
    SambaDC,
)

pytest_plugins = ["tests.support.installer_rig", "tests.support.samba_dc"]
WRONG = "Not-The-Pa55word!"
PASSWORD_ENV = "COBRIDGE_TEST_DIRECTORY_PASSWORD"


@pytest.fixture
def dc(samba_dc: SambaDC) -> SambaDC:
    return samba_dc.ensure(allow_plain=False)


def directory(dc: SambaDC, **overrides: Any) -> dict[str, Any]:
    values = {
        "enabled": True,
        "hosts": [HOST],
        "tls": "ldaps",
        "ca_file": str(dc.ca_file),
        "bind_dn": SERVICE_DN,
        "password": SERVICE_PASSWORD,
        "base_dns": [WORKSTATIONS_DN, SERVERS_DN],
    }
    return values | overrides


def test_the_directory_check_binds_and_finds_every_base(
    rig: Rig, dc: SambaDC, tmp_path: Path
) -> None:
    found = prerequisites(rig.install_answers(directory=directory(dc)), tmp_path)
    assert found["directory"].status == "PASS", found["directory"]
    assert found["directory"].detail == f"bound to {HOST} as {SERVICE_DN}; 2 base DN(s) found"

    found = prerequisites(rig.install_answers(directory=directory(dc, password=WRONG)), tmp_path)
    wrong = found["directory"]
    assert wrong.status == "FAIL"
    assert f"refused the bind of {SERVICE_DN}" in wrong.detail
    assert "the password stored for it" in (wrong.fix or "")
    assert shown(found, [WRONG, SERVICE_PASSWORD]) == []

    nowhere = f"OU=Nowhere,{WORKSTATIONS_DN.split(',', 1)[1]}"
    given = rig.install_answers(directory=directory(dc, base_dns=[WORKSTATIONS_DN, nowhere]))
    missing = prerequisites(given, tmp_path)["directory"]
    assert missing.status == "FAIL"
    assert f"base DN {nowhere} does not exist" in missing.detail
    assert "correct base_dns" in (missing.fix or "")


def test_an_install_with_the_directory_keeps_its_password_secret(
    rig: Rig, dc: SambaDC, tmp_path: Path
) -> None:
    code = rig.tenant.attach_code()
    section = directory(dc, password=f"env:{PASSWORD_ENV}")
    answers = rig.answers(tmp_path / "answers.toml", directory=section)
    layout = Layout(tmp_path / "prefix")
    args = ("install", "--answers", str(answers), "--prefix", str(layout.prefix))
    env = rig.env(code) | {PASSWORD_ENV: SERVICE_PASSWORD}
    done = run_cli(*args, env=env)
    assert done.exit_code == 0, done.output
    assert "bound to" in done.stdout
    secrets = [s for s in (SERVICE_PASSWORD, code, rig.db_password) if s]
    assert [s for s in secrets if s in done.output] == []
    assert files_holding(layout.prefix, secrets) == []
    assert 'password = "secret:directory_password"' in layout.config.read_text()
    listed = run_cli("secrets", "list", "--prefix", str(layout.prefix))
    assert listed.stdout.split() == ["directory_password", "site_db"]
