"""The admin center from the command line: passwords set by the CLI, and the demo's sign-in."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloud.service.settings import CloudSettings
from cloud.service.state import open_state
from tests.support.admin_center import new_session, sign_in
from tests.support.cli_process import COBRIDGE, run


def cobridge(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the CLI with `stdin` as its standard input."""
    return subprocess.run(
        [*COBRIDGE, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


async def _signs_in(data_dir: Path, tenant: str, user: str, password: str) -> str:
    """Serve the store of `data_dir` and sign in; the devices page's text."""
    from cloud.server.app import running

    state = open_state(CloudSettings(data_dir=data_dir, port=0, connector_port=0))
    async with running(state, purge_every=3600) as (api_port, _), new_session() as http:
        base = f"https://127.0.0.1:{api_port}"
        status, location = await sign_in(http, base, tenant, user, password)
        assert (status, location) == (303, "/devices")
        async with http.get(f"{base}/devices") as page:
            assert page.status == 200
            return await page.text()


@pytest.mark.asyncio
async def test_admin_create_and_set_password_from_standard_input(tmp_path: Path) -> None:
    store = ["--data-dir", str(tmp_path / "cloud")]
    assert cobridge("cloud", "tenant", "create", *store, "acme").returncode == 0
    created = cobridge(
        "cloud", "admin", "create", *store, "--tenant", "acme", "--role", "viewer",
        "--password-stdin", "alice", stdin="first long password\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    short = cobridge(
        "cloud", "admin", "set-password", *store, "--tenant", "acme", "--password-stdin", "alice",
        stdin="short\n",
    )  # fmt: skip
    assert short.returncode == 2
    assert "too short" in short.stderr + short.stdout
    changed = cobridge(
        "cloud", "admin", "set-password", *store, "--tenant", "acme", "--password-stdin", "alice",
        stdin="second long password\n",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    page = await _signs_in(tmp_path / "cloud", "acme", "alice", "second long password")
    assert 'data-role="viewer"' in page


@pytest.mark.asyncio
async def test_demo_prints_the_admin_center_and_its_admin_signs_in(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    once = run("demo", "--once", "--data-dir", str(demo), "--devices", "200")
    assert once.returncode == 0, once.stderr
    summary = json.loads(once.stdout.strip().splitlines()[-1])
    assert summary["admin_center_url"] == summary["api_url"] + "/"
    saved = demo / "demo.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    credentials = json.loads(saved.read_text())
    assert set(credentials) == {"tenant_id", "token", "admin", "password"}
    page = await _signs_in(demo / "cloud", "demo", credentials["admin"], credentials["password"])
    assert f'data-count="{summary["attached_devices"]}"' in page
    engine = sa.create_engine(f"sqlite:///{demo / 'cloud' / 'cloud.db'}")
    try:
        with engine.connect() as conn:
            hashes = conn.execute(sa.text("SELECT password_hash FROM principals")).scalars().all()
    finally:
        engine.dispose()
    assert all(h.startswith("$argon2id$") for h in hashes), "only the hash is stored"
