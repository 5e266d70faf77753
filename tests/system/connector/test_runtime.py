"""The running connector: enrollment, heartbeat, /healthz, /metrics, status, SIGTERM, demo."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bridge.runtime.enrollment import PENDING_KEY_FILE, EnrollmentError, enroll, new_key_and_csr
from bridge.runtime.runner import ConnectorRunner
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudApiError
from installer.console import cli
from onprem.site_schema import v_R_System
from tests.support.cloud_service import RunningService
from tests.support.connector_config import write_config
from tests.support.sync_rig import seeded_site


def runner_state_quarantine(settings: ConnectorSettings) -> dict[str, int]:
    """The connector's own quarantine counts per reason, read from its state store."""
    with ConnectorState.open(None, data_dir=settings.data_dir, migrate=False) as state:
        return state.quarantine.counts()


async def _admin(service: RunningService) -> AdminClient:
    _, token = await service.tenant_with_admin(f"rt-{os.urandom(3).hex()}")
    return AdminClient(service.api_url, None, ca_pem=service.root_pem, token=token)


@pytest.mark.asyncio
async def test_runner_enrolls_syncs_beats_and_serves_health(
    service: RunningService, tmp_path: Path
) -> None:
    site = seeded_site(tmp_path / "site.db", 150, seed=8)
    with site.begin() as conn:  # two records the reader must refuse
        first = conn.execute(
            sa.select(v_R_System.c.ResourceID).order_by(v_R_System.c.ResourceID).limit(2)
        ).scalars()
        conn.execute(
            v_R_System.update()
            .where(v_R_System.c.ResourceID.in_(list(first)))
            .values(SMS_Unique_Identifier0="GUID:not-a-guid")
        )
    site.dispose()
    async with await _admin(service) as admin:
        code = (await admin.create_attach_code()).code
        settings = ConnectorSettings.load(write_config(tmp_path, service, code))
        runner = ConnectorRunner(settings)
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.first_cycle.wait(), 60)
        assert runner.last_report is not None
        assert (runner.last_report.kind, runner.last_report.outcome) == ("full", "ok")
        key = settings.data_dir / "connector.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{runner.metrics_port}"
            async with http.get(f"{base}/healthz") as health:
                assert health.status == 200
                assert (await health.json())["status"] == "ok"
            async with http.get(f"{base}/metrics") as metrics:
                text = await metrics.text()
        assert 'cobridge_connector_cycles_total{kind="full",outcome="ok"} 1.0' in text
        assert "cobridge_connector_certificate_expiry_timestamp_seconds" in text
        for _ in range(100):  # the heartbeat after the cycle carries its figures
            [hierarchy] = await admin.list_hierarchies()
            if hierarchy.status and "siteDevices" in hierarchy.status:
                break
            await asyncio.sleep(0.1)
        assert hierarchy.last_heartbeat_at is not None
        assert hierarchy.status is not None
        assert hierarchy.status["siteDevices"] == runner.last_report.counts["records"]
        # The quarantine reached the tenant once; unchanged, later heartbeats omit it.
        quarantine = await admin.quarantine(hierarchy.hierarchy_id, top=1000)
        held_here = runner_state_quarantine(settings)
        assert quarantine.counts == held_here, "the tenant shows the connector's quarantine"
        assert quarantine.total == sum(held_here.values()) > 0
        assert quarantine.matched == len(quarantine.value) == quarantine.total
        beat_before = hierarchy.last_heartbeat_at
        for _ in range(100):
            [hierarchy] = await admin.list_hierarchies()
            if hierarchy.last_heartbeat_at > beat_before:
                break
            await asyncio.sleep(0.1)
        assert hierarchy.last_heartbeat_at > beat_before
        again_q = await admin.quarantine(hierarchy.hierarchy_id)
        assert again_q.reported_at == quarantine.reported_at, "an unchanged report is not re-sent"
        runner.stop()
        assert await asyncio.wait_for(task, 30) == 0

        # Enrolled now: a second start needs no attach code and runs a delta.
        again = ConnectorRunner(
            settings.model_copy(
                update={"cloud": settings.cloud.model_copy(update={"attach_code": None})}
            )
        )
        assert await asyncio.wait_for(again.run(once=True), 60) == 0
        assert again.last_report is not None
        assert again.last_report.kind == "delta"
        assert again.last_report.counts["uploads"] == 0

    result = CliRunner().invoke(
        cli, ["status", "--config", str(tmp_path / "connector.toml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["healthy"] is True
    assert status["attached_devices"] == again.last_report.counts["unchanged"]
    assert status["last_cycle"]["kind"] == "delta"

    released = CliRunner().invoke(
        cli,
        [
            "connector",
            "release-deletes",
            "--config",
            str(tmp_path / "connector.toml"),
            "--by",
            "me",
        ],
    )
    assert released.exit_code == 1
    assert "nothing is held" in released.output


@pytest.mark.asyncio
async def test_without_certificate_or_attach_code_the_error_says_what_to_do(
    service: RunningService, tmp_path: Path
) -> None:
    seeded_site(tmp_path / "site.db", 20).dispose()
    runner = ConnectorRunner(ConnectorSettings.load(write_config(tmp_path, service, None)))
    with pytest.raises(EnrollmentError) as refused:
        await runner.run(once=True)
    assert "not enrolled" in refused.value.message
    assert "attach_code" in (refused.value.hint or "")


@pytest.mark.asyncio
async def test_sigterm_stops_a_running_connector_cleanly(
    service: RunningService, tmp_path: Path
) -> None:
    seeded_site(tmp_path / "site.db", 400, seed=2).dispose()
    async with await _admin(service) as admin:
        code = (await admin.create_attach_code()).code
    config = write_config(tmp_path, service, code)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "installer",
        "connector",
        "run",
        "--config",
        str(config),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        state_file = tmp_path / "connector" / "connector-state.db"
        for _ in range(600):
            await asyncio.sleep(0.1)
            status = CliRunner().invoke(cli, ["status", "--config", str(config), "--json"])
            if state_file.exists() and status.exit_code == 0:
                break
        assert status.exit_code == 0, status.output
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 40) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = (await process.stderr.read()).decode()  # type: ignore[union-attr]
    for line in filter(None, log.splitlines()):  # structured logs: JSON lines only
        assert {"time", "level", "message"} <= set(json.loads(line))
    assert "Traceback" not in log
    assert code not in log  # no secrets in logs


@pytest.mark.asyncio
async def test_a_standby_waits_for_the_lease_and_takes_over(
    service: RunningService, tmp_path: Path
) -> None:
    seeded_site(tmp_path / "site.db", 120, seed=4).dispose()
    async with await _admin(service) as admin:
        code = (await admin.create_attach_code()).code
    settings = ConnectorSettings.load(write_config(tmp_path, service, code))
    active = ConnectorRunner(settings)
    active_task = asyncio.create_task(active.run())
    await asyncio.wait_for(active.first_cycle.wait(), 60)
    standby = ConnectorRunner(settings)
    standby_task = asyncio.create_task(standby.run())
    await asyncio.sleep(3)
    assert standby.cycles == 0  # it never uploads while the other holds the lease
    assert active.cycles >= 2
    active.stop()
    assert await asyncio.wait_for(active_task, 30) == 0  # a clean stop releases the lease
    await asyncio.wait_for(standby.first_cycle.wait(), 30)
    assert standby.last_report is not None
    assert standby.last_report.outcome == "ok"
    standby.stop()
    assert await asyncio.wait_for(standby_task, 30) == 0


@pytest.mark.asyncio
async def test_a_lost_enrollment_answer_is_asked_for_again_with_the_same_key(
    service: RunningService, tmp_path: Path
) -> None:
    data_dir = tmp_path / "connector"
    async with await _admin(service) as admin:
        code = (await admin.create_attach_code(hierarchy_id="H-LOST")).code
    async with ConnectorClient(None, service.connector_url, ca_pem=service.root_pem) as anonymous:
        # The first attempt reached the service, but its answer never came back.
        key_pem, csr = new_key_and_csr("H-LOST")
        data_dir.mkdir()
        (data_dir / PENDING_KEY_FILE).write_bytes(key_pem)
        lost = await anonymous.enroll(code, csr, "H-LOST", "PS1", "test")
        identity = await enroll(
            anonymous,
            data_dir,
            attach_code=code,
            hierarchy_id="H-LOST",
            site_code="PS1",
            version="test",
        )
        assert identity.connector_id == lost.connector_id
        assert identity.key_pem == key_pem
        assert not (data_dir / PENDING_KEY_FILE).exists()
        # Another key with the spent code gets nothing.
        with pytest.raises(CloudApiError) as refused:
            await enroll(
                anonymous,
                tmp_path / "other",
                attach_code=code,
                hierarchy_id="H-LOST",
                site_code="PS1",
                version="test",
            )
        assert refused.value.code == "attach_code_invalid"
