"""AD computers reach the tenant: a real Samba DC, the directory pass, the upload over HTTPS.

The connector sends only computers whose record changed since the tenant
acknowledged it; an unreachable tenant leaves everything pending and marks
nothing. End to end, the tenant lists the AD-only computers as "no agent",
a computer deleted from AD as deleted, and one deleted from AD while its
site record still reports as a discrepancy.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.directory.upload import DirectoryUpload
from bridge.state import ConnectorState
from bridge.tenant.connector import ConnectorClient
from onprem.directory import DirectoryRecord
from tests.support.cloud_service import RunningService
from tests.support.directory_world import World
from tests.support.installer_servers import closed_port
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client, connector_for

pytest_plugins = ["tests.support.samba_dc", "tests.support.directory_world"]
MODULE = pytest.mark.asyncio(loop_scope="module")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


service = shared_service  # one service per module and backend


def ad_record(n: int, *, disabled: bool = False) -> DirectoryRecord:
    """AD computer number n as the reader returns it."""
    return DirectoryRecord(
        object_guid=uuid.UUID(int=n),
        dn=f"CN=PC{n:05d},OU=Workstations,DC=corp,DC=example",
        name=f"PC{n:05d}",
        sam_account_name=f"PC{n:05d}$",
        dns_host_name=f"pc{n:05d}.corp.example",
        operating_system="Windows 11 Enterprise",
        operating_system_version="10.0 (22631)",
        last_logon=NOW,
        when_changed=NOW,
        usn_changed=n,
        user_account_control=4098 if disabled else 4096,
    )


@MODULE
async def test_only_changes_are_sent_and_a_failed_send_keeps_them(
    service: RunningService, tmp_path: Path
) -> None:
    _, token = await service.tenant_with_admin(f"dirup-{uuid.uuid4().hex[:8]}")
    state = ConnectorState.open(None, data_dir=tmp_path)
    try:
        state.directory.apply([ad_record(n) for n in range(1, 1201)], now=NOW)
        async with admin_client(service, token) as admin:
            enrolled = await connector_for(service, admin, "H-UP")
            unreachable = ConnectorClient(
                None,
                f"https://127.0.0.1:{closed_port()}",
                ca_pem=service.root_pem,
                max_attempts=1,
            )
            async with unreachable:
                failed = await DirectoryUpload(state, unreachable).run()
            assert (failed.sent, failed.pending) == (0, 1200)
            assert failed.error is not None
            assert all(c.uploaded_digest is None for c in state.directory.all())

            async with enrolled.client as connector:
                upload = DirectoryUpload(state, connector)
                first = await upload.run()
                assert (first.sent, first.changed, first.pending, first.error) == (
                    1200,
                    1200,
                    0,
                    None,
                )
                assert (await upload.run()).sent == 0, "nothing changed, nothing sent"

                state.directory.apply([ad_record(7, disabled=True)], now=NOW)
                state.directory.mark_deleted([str(uuid.UUID(int=8))], now=NOW)
                again = await upload.run()
                assert (again.sent, again.changed) == (2, 2)
            listed = await admin.directory_computers("H-UP", top=1)
            assert (listed.counts.computers, listed.counts.no_agent) == (1199, 1199)
            assert (listed.counts.disabled, listed.counts.deleted) == (1, 1)
            gone = await admin.directory_computers("H-UP", state="deleted")
            assert [c.name for c in gone.value] == ["PC00008"]
            await enrolled.session.close()
    finally:
        state.close()


@MODULE
async def test_ad_only_computers_and_discrepancies_reach_the_tenant(
    service: RunningService, world: World
) -> None:
    _, token = await service.tenant_with_admin(f"dirsys-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, "H-AD")
        async with enrolled.client as connector:
            upload = DirectoryUpload(world.state, connector)
            assert world.directory_pass().run().outcome == "ok"
            assert (await upload.run()).sent == 5

            no_agent = await admin.directory_computers("H-AD", state="noAgent")
            assert [c.name.removeprefix(world.prefix) for c in no_agent.value] == ["M4", "M5"]
            assert [c.enabled for c in no_agent.value] == [True, False]
            matched = await admin.directory_computers("H-AD", state="matched")
            assert {c.name.removeprefix(world.prefix): c.smsid for c in matched.value} == {
                "M1": world.smsids[0],
                "M2": world.smsids[1],
            }
            disputed = await admin.directory_computers("H-AD", state="disputed")
            assert [c.name.removeprefix(world.prefix) for c in disputed.value] == ["M3"]

            # M1 leaves AD while its site record still reports: kept and flagged.
            # M4 leaves AD: listed as deleted, no longer as "no agent".
            world.admin.delete(f"CN={world.prefix}M1,{world.ou}")
            world.admin.delete(f"CN={world.prefix}M4,{world.ou}")
            delta = world.directory_pass().run()
            assert (delta.kind, delta.outcome) == ("delta", "ok")
            assert (await upload.run()).sent == 2
        counts = (await admin.directory_computers("H-AD")).counts
        assert (counts.computers, counts.no_agent, counts.deleted) == (3, 1, 2)
        flagged = await admin.directory_computers("H-AD", state="discrepancy")
        assert [(c.name.removeprefix(world.prefix), c.smsid) for c in flagged.value] == [
            ("M1", world.smsids[0])
        ]
        await enrolled.session.close()
