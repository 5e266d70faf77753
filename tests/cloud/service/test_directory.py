"""AD computers over real HTTPS: the connector sends what changed, admins list and filter them.

A batch replaces each named computer's record and changes nothing when sent
again; a computer gone from AD stays listed with its deletion time; a linked
computer names the tenant's device, and the device's detail names the
computer. Refusals: inconsistent records, repeated GUIDs, a detached
hierarchy's connector, an unknown hierarchy. Runs on SQLite and PostgreSQL, one service
per backend for the module.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.tenant.errors import CloudApiError
from cloud.contract.directory import DirectoryComputer, DirectoryComputerBatch
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.store_records import batch, record, smsid
from tests.support.tenant_clients import admin_client, connector_for

MODULE = pytest.mark.asyncio(loop_scope="module")
GONE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


service = shared_service  # one service per module and backend


def computer(n: int, **overrides: Any) -> DirectoryComputer:
    """AD computer number n: by default AD-only ("no agent") and enabled."""
    values: dict[str, Any] = {
        "object_guid": str(uuid.UUID(int=n)),
        "distinguished_name": f"CN=PC{n:04d},OU=Workstations,DC=corp,DC=example",
        "name": f"PC{n:04d}",
        "sam_account_name": f"PC{n:04d}$",
        "dns_host_name": f"pc{n:04d}.corp.example",
        "operating_system": "Windows 11 Enterprise",
        "operating_system_version": "10.0 (22631)",
        "enabled": True,
        "match": "none",
    }
    return DirectoryComputer(**(values | overrides))


def test_records_must_be_consistent() -> None:
    with pytest.raises(ValidationError, match="smsid is set exactly"):
        computer(1, match="dn")
    with pytest.raises(ValidationError, match="smsid is set exactly"):
        computer(1, smsid=smsid(1))
    with pytest.raises(ValidationError, match="discrepancy"):
        computer(1, match="dn", smsid=smsid(1), discrepancy=True)
    with pytest.raises(ValidationError, match="at most once"):
        DirectoryComputerBatch(computers=[computer(1), computer(1, name="OTHER")])
    with pytest.raises(ValidationError, match="object_guid"):
        computer(1, object_guid="{not-a-guid}")


@MODULE
async def test_send_list_filter_and_link(service: RunningService) -> None:
    _, token = await service.tenant_with_admin(f"dir-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, "H-PS1")
        async with enrolled.client as connector:
            never = await admin.directory_computers("H-PS1")
            assert (never.value, never.matched, never.received_at) == ([], 0, None)
            await connector.ingest(batch("H-PS1", 1, [record(1), record(2)]))

            sent = [computer(n) for n in range(10, 40)]  # 30 without an agent
            sent += [
                computer(1, match="dn", smsid=smsid(1)),
                computer(2, match="nameDomain", smsid=smsid(2), enabled=False),
                computer(3, match="disputed"),
                computer(4, match="dn", smsid=smsid(4), deleted_at=GONE, discrepancy=True),
                computer(5, deleted_at=GONE),
            ]
            ack = await connector.send_directory_computers(sent)
            assert (ack.received, ack.changed) == (35, 35)

            listed = await admin.directory_computers("H-PS1", top=5)
            counts = listed.counts
            assert (counts.computers, counts.matched, counts.no_agent) == (33, 2, 30)
            assert (counts.disputed, counts.disabled) == (1, 1)
            assert (counts.discrepancies, counts.deleted) == (1, 2)
            assert listed.matched == 33
            names = [c.name for c in listed.value]
            assert names == ["PC0001", "PC0002", "PC0003", "PC0010", "PC0011"]
            assert listed.received_at is not None

            no_agent = await admin.directory_computers("H-PS1", state="noAgent", top=3, skip=28)
            assert no_agent.matched == 30
            assert [c.name for c in no_agent.value] == ["PC0038", "PC0039"]
            assert all(c.device_id is None and c.smsid is None for c in no_agent.value)

            matched = await admin.directory_computers("H-PS1", state="matched")
            by_name = {c.name: c for c in matched.value}
            assert set(by_name) == {"PC0001", "PC0002"}
            assert by_name["PC0002"].match == "nameDomain"
            assert by_name["PC0001"].device_id is not None, "linked to the attached device"

            gone = await admin.directory_computers("H-PS1", state="deleted")
            assert {c.name for c in gone.value} == {"PC0004", "PC0005"}
            flagged = await admin.directory_computers("H-PS1", state="discrepancy")
            assert [(c.name, c.smsid, c.deleted_at) for c in flagged.value] == [
                ("PC0004", smsid(4), GONE)
            ]
            disabled = await admin.directory_computers("H-PS1", state="disabled")
            assert [c.name for c in disabled.value] == ["PC0002"]
            found = await admin.directory_computers("H-PS1", search="pc003")
            assert [c.name for c in found.value] == [f"PC{n:04d}" for n in range(30, 40)]
            # LIKE wildcards in a search are taken literally.
            assert (await admin.directory_computers("H-PS1", search="pc_0")).matched == 0

            detail = await admin.device(by_name["PC0001"].device_id)
            assert detail.active_directory is not None
            assert detail.active_directory.distinguished_name == sent[30].distinguished_name

            # The same batch again changes nothing; one edited record changes one row.
            again = await connector.send_directory_computers(sent)
            assert (again.received, again.changed) == (35, 0)
            edited = [computer(10, enabled=False), *sent[1:5]]
            assert (await connector.send_directory_computers(edited)).changed == 1
            now_disabled = await admin.directory_computers("H-PS1", state="disabled")
            assert [c.name for c in now_disabled.value] == ["PC0002", "PC0010"]
        await enrolled.session.close()


@MODULE
async def test_refusals(service: RunningService) -> None:
    _, token = await service.tenant_with_admin(f"dir-r-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, "H-REF")
        url = f"{service.connector_url}/connector/v1/directory/computers"
        inconsistent = {"computers": [computer(1).wire() | {"match": "dn"}]}
        async with enrolled.session.post(url, json=inconsistent) as r:
            assert r.status == 400, await r.text()
            assert (await r.json())["error"]["code"] == "invalid_body"
        twice = {"computers": [computer(1).wire(), computer(1).wire()]}
        async with enrolled.session.post(url, json=twice) as r:
            assert r.status == 400
        assert (await admin.directory_computers("H-REF")).counts.computers == 0

        with pytest.raises(CloudApiError) as missing:
            await admin.directory_computers("H-NOPE")
        assert missing.value.code == "not_found"
        with pytest.raises(CloudApiError) as bad_state:
            await admin.directory_computers("H-REF", state="gone")
        assert bad_state.value.code == "invalid_query"

        detach = f"{service.api_url}/api/v1/hierarchies/H-REF/detach"
        async with service.session(token=token) as session, session.post(detach) as r:
            assert r.status == 200, await r.text()
        # Detaching revokes the connector's certificate: nothing more is taken from it.
        async with enrolled.session.post(url, json={"computers": [computer(1).wire()]}) as r:
            assert r.status == 401, await r.text()
            assert (await r.json())["error"]["code"] == "certificate_revoked"
        assert (await admin.directory_computers("H-REF")).counts.computers == 0
        await enrolled.session.close()
