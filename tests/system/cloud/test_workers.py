"""Several service workers over one PostgreSQL store serve the same tenants.

Real processes (`cobridge cloud serve`), real HTTPS: what one worker writes,
the other reads; keys created by the first are used by the second.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.support.pg import throwaway_pg_database
from tests.support.store_records import record

pytestmark = pytest.mark.postgres
COBRIDGE = [sys.executable, "-c", "from installer.console import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [*COBRIDGE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with throwaway_pg_database("cobridge_workers") as url:
        yield url.render_as_string(hide_password=False)


def _wait_healthy(url: str, ca: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", verify=str(ca), timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not become healthy")


def test_two_workers_share_tenants_keys_and_devices(pg_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "COBRIDGE_CLOUD_DB": pg_url}
    env.pop("COBRIDGE_CLOUD_MASTER_KEY", None)
    data = tmp_path / "cloud"
    _cli("cloud", "tenant", "create", "--data-dir", str(data), "contoso", env=env)
    _cli(
        "cloud", "admin", "create", "--data-dir", str(data), "--tenant", "contoso", "alice", env=env
    )
    workers = []
    try:
        for _ in range(2):
            port, cport = _free_port(), _free_port()
            cmd = [
                *COBRIDGE,
                "cloud",
                "serve",
                "--data-dir",
                str(data),
                "--port",
                str(port),
                "--connector-port",
                str(cport),
            ]
            workers.append(
                (subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True), port, cport)
            )
        ca = data / "service-root.pem"
        urls = [f"https://localhost:{port}" for _, port, _ in workers]
        for url in urls:
            _wait_healthy(url, ca)
        token = _cli(
            "cloud",
            "token",
            "create",
            "--data-dir",
            str(data),
            "--tenant",
            "contoso",
            "--admin",
            "alice",
            env=env,
        )
        auth = {"Authorization": f"Bearer {token}"}
        # A token issued through worker 0 works on worker 1.
        created = requests.post(
            f"{urls[0]}/api/v1/tokens",
            json={"name": "ci"},
            headers=auth,
            verify=str(ca),
            timeout=10,
        )
        assert created.status_code == 201, created.text
        second = {"Authorization": f"Bearer {created.json()['token']}"}
        assert (
            requests.get(
                f"{urls[1]}/api/v1/me", headers=second, verify=str(ca), timeout=10
            ).status_code
            == 200
        )
        # A connector enrolled at worker 1 (certificate from the shared tenant CA) ingests at worker 0.
        from tests.support.cloud_service import new_key_and_csr

        code = requests.post(
            f"{urls[0]}/api/v1/attachCodes", json={}, headers=auth, verify=str(ca), timeout=10
        ).json()["code"]
        key_pem, csr = new_key_and_csr()
        enrolled = requests.post(
            f"https://localhost:{workers[1][2]}/connector/v1/enroll",
            json={"attachCode": code, "csrPem": csr, "hierarchyId": "H-PS1", "siteCode": "PS1"},
            verify=str(ca),
            timeout=10,
        ).json()
        (tmp_path / "chain.pem").write_text(enrolled["certificatePem"] + enrolled["caChainPem"])
        (tmp_path / "key.pem").write_bytes(key_pem)
        cert = (str(tmp_path / "chain.pem"), str(tmp_path / "key.pem"))
        c0 = f"https://localhost:{workers[0][2]}"
        reg = requests.put(
            f"{c0}/connector/v1/hierarchy",
            json={"hierarchyId": "H-PS1", "siteCode": "PS1"},
            cert=cert,
            verify=str(ca),
            timeout=10,
        )
        assert reg.status_code == 200, reg.text
        batch = {
            "batchId": str(uuid.uuid4()),
            "hierarchyId": "H-PS1",
            "sequence": 1,
            "upserts": [record(n).wire() for n in range(5)],
        }
        ack = requests.post(
            f"{c0}/connector/v1/ingest", json=batch, cert=cert, verify=str(ca), timeout=10
        )
        assert ack.json()["upserted"] == 5, ack.text
        listed = requests.get(
            f"{urls[1]}/api/v1/devices",
            params={"$count": "true"},
            headers=auth,
            verify=str(ca),
            timeout=10,
        )
        assert listed.json()["@odata.count"] == 5
        engine = sa.create_engine(sa.make_url(pg_url).set(drivername="postgresql+psycopg"))
        with engine.connect() as conn:
            assert (
                conn.execute(sa.text("SELECT count(*) FROM service_secrets")).scalar_one() == 2
            ), "one set of service keys"
        engine.dispose()
    finally:
        for process, _, _ in workers:
            process.terminate()
            process.wait(timeout=30)
