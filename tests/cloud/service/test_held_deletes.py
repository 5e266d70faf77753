"""Held deletes over real HTTPS: the connector's report, audited release orders, delivery.

The delete guard of DESIGN.md section 6, cloud side: a connector reports the
deletes it holds in its heartbeat, an admin releases them through the API,
the order rides on heartbeat answers until the connector reports it applied.
Runs on SQLite and PostgreSQL, with one service per backend for the module.
Refusals (isolation, bad input) are in tests/cloud/service/test_held_deletes_refusals.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bridge.tenant.errors import CloudApiError, CloudAuthError
from cloud.contract.admin import Role
from cloud.contract.attach import Heartbeat
from cloud.store.engine import VERSION_TABLE
from cloud.store.schema import cloud_metadata
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.store_records import smsid
from tests.support.tenant_clients import admin_client, audit_entries, connector_for, group

MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


def test_migrations_make_exactly_the_schema(module_store: tuple[sa.URL, sa.URL]) -> None:
    engine = sa.create_engine(module_store[0])
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, cloud_metadata) == []
    finally:
        engine.dispose()


@MODULE
async def test_report_release_deliver_apply_and_audit(service: RunningService) -> None:
    tenant = f"held-{uuid.uuid4().hex[:8]}"
    _, token = await service.tenant_with_admin(tenant)
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, "H-PS1")
        connector_id = enrolled.connector_id
        async with enrolled.client as connector:
            empty = await admin.held_deletes("H-PS1")
            assert (empty.value, empty.reported_at) == ([], None)
            report = [group("c1", 600, 1, 2), group("c2", 40, 3)]
            ack = await connector.heartbeat(Heartbeat(held_deletes=report))
            assert ack.delete_releases == []
            held = await admin.held_deletes("H-PS1")
            assert held.value == report
            assert held.reported_at is not None

            order = await admin.release_held_deletes("H-PS1", "c1")
            assert (order.hierarchy_id, order.cycle_id, order.applied_at) == ("H-PS1", "c1", None)
            assert order.requested_by == f"{tenant}-admin"
            again = await admin.release_held_deletes("H-PS1", "c1")
            assert again == order, "an equal pending order is answered, not duplicated"

            # Delivered on every heartbeat until applied; no report keeps the last one.
            for _ in range(2):
                ack = await connector.heartbeat(Heartbeat())
                [delivered] = ack.delete_releases
                assert (delivered.release_id, delivered.cycle_id) == (order.release_id, "c1")
                assert delivered.requested_by == order.requested_by
            assert (await admin.held_deletes("H-PS1")).value == report

            # Applied (an unknown id beside it is ignored): no longer delivered.
            applied = [order.release_id, uuid.uuid4()]
            ack = await connector.heartbeat(
                Heartbeat(held_deletes=[group("c2", 40, 3)], applied_releases=applied)
            )
            assert ack.delete_releases == []
            ack = await connector.heartbeat(Heartbeat(applied_releases=[order.release_id]))
            assert ack.delete_releases == []
            assert [g.cycle_id for g in (await admin.held_deletes("H-PS1")).value] == ["c2"]
            [listed] = await admin.delete_releases("H-PS1")
            assert listed.release_id == order.release_id
            assert listed.applied_at is not None

            # A cycle no longer reported has nothing to release.
            with pytest.raises(CloudApiError) as refused:
                await admin.release_held_deletes("H-PS1", "c1")
            assert (refused.value.status, refused.value.code) == (409, "nothing_held")

            # Release everything; an empty report then leaves nothing to release.
            everything = await admin.release_held_deletes("H-PS1")
            assert everything.cycle_id is None
            [delivered] = (await connector.heartbeat(Heartbeat())).delete_releases
            assert (delivered.release_id, delivered.cycle_id) == (everything.release_id, None)
            ack = await connector.heartbeat(
                Heartbeat(held_deletes=[], applied_releases=[everything.release_id])
            )
            assert ack.delete_releases == []
            emptied = await admin.held_deletes("H-PS1")
            assert emptied.value == []
            assert emptied.reported_at is not None
            with pytest.raises(CloudApiError) as refused:
                await admin.release_held_deletes("H-PS1")
            assert refused.value.code == "nothing_held"

        releases = await admin.delete_releases("H-PS1")
        assert [r.release_id for r in releases] == [everything.release_id, order.release_id]
        assert all(r.applied_at is not None for r in releases)
    # Who asked, who applied, when: each once (the repeats changed nothing).
    entries = await audit_entries(service, token)
    assert [(e["action"], e["actor"], e["details"]["releaseId"]) for e in entries] == [
        ("held_deletes.release_requested", f"principal:{tenant}-admin", str(order.release_id)),
        ("held_deletes.released", f"connector:{connector_id}", str(order.release_id)),
        ("held_deletes.release_requested", f"principal:{tenant}-admin", str(everything.release_id)),
        ("held_deletes.released", f"connector:{connector_id}", str(everything.release_id)),
    ]
    assert all(e["target"] == "H-PS1" and e["at"] for e in entries)
    assert entries[0]["details"] | {"releaseId": None} == {
        "releaseId": None,
        "cycleId": "c1",
        "cycles": 1,
        "devices": 600,
    }


@MODULE
async def test_wire_shapes(service: RunningService) -> None:
    _, token = await service.tenant_with_admin(f"wire-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        connector = await connector_for(service, admin, "H-WIRE")
        async with connector.client:
            await connector.client.heartbeat(Heartbeat(held_deletes=[group("c9", 501, 7)]))
            order = await admin.release_held_deletes("H-WIRE", "c9")
    heartbeat = f"{service.connector_url}/connector/v1/heartbeat"
    async with connector.session.post(heartbeat, json={}) as r:
        assert r.status == 200, await r.text()
        [delivered] = json.loads(await r.text())["deleteReleases"]
    assert set(delivered) == {"releaseId", "cycleId", "requestedBy", "requestedAt"}
    assert delivered["releaseId"] == str(order.release_id)
    api = f"{service.api_url}/api/v1/hierarchies/H-WIRE/held-deletes"
    session = service.session(token=token)
    async with session.get(api) as r:
        body = await r.json()
    assert set(body) == {"value", "reportedAt"}
    assert body["value"] == [
        {
            "cycleId": "c9",
            "count": 501,
            "heldAt": "2026-11-01T09:00:00Z",
            "sample": [{"smsid": smsid(7), "name": "WKS00007"}],
        }
    ]
    async with session.post(f"{api}/release", json={"cycleId": "c9"}) as r:
        assert r.status == 202
        body = await r.json()
    assert set(body) == {
        "releaseId",
        "hierarchyId",
        "cycleId",
        "requestedBy",
        "requestedAt",
        "appliedAt",
    }
    assert (body["releaseId"], body["appliedAt"]) == (str(order.release_id), None)
    async with session.get(f"{api}/releases") as r:
        assert [o["releaseId"] for o in (await r.json())["value"]] == [str(order.release_id)]


@MODULE
async def test_viewers_and_operators_read_but_cannot_release(service: RunningService) -> None:
    tenant_id, token = await service.tenant_with_admin(f"roles-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        connector = await connector_for(service, admin, "H-PS1")
        async with connector.client:
            await connector.client.heartbeat(Heartbeat(held_deletes=[group("c1", 700, 1)]))
    for role in (Role.VIEWER, Role.OPERATOR):
        other = await service.token_for(tenant_id, f"{role.value}-{uuid.uuid4().hex[:6]}", role)
        async with admin_client(service, other) as client:
            assert [g.cycle_id for g in (await client.held_deletes("H-PS1")).value] == ["c1"]
            assert await client.delete_releases("H-PS1") == []
            with pytest.raises(CloudAuthError) as refused:
                await client.release_held_deletes("H-PS1", "c1")
            assert (refused.value.status, refused.value.code) == (403, "forbidden")
    async with admin_client(service, token) as admin:
        assert await admin.delete_releases("H-PS1") == []
    assert await audit_entries(service, token) == []


@MODULE
async def test_concurrent_equal_releases_make_one_order(service: RunningService) -> None:
    _, token = await service.tenant_with_admin(f"race-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        connector = await connector_for(service, admin, "H-RACE")
        async with connector.client:
            await connector.client.heartbeat(Heartbeat(held_deletes=[group("c1", 800, 1)]))
            orders = await asyncio.gather(
                *(admin.release_held_deletes("H-RACE", "c1") for _ in range(6))
            )
            assert len({o.release_id for o in orders}) == 1
            [delivered] = (await connector.client.heartbeat(Heartbeat())).delete_releases
            assert delivered.release_id == orders[0].release_id
        assert len(await admin.delete_releases("H-RACE")) == 1
    assert len(await audit_entries(service, token)) == 1
