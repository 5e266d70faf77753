"""Held deletes: what is refused. Tenant and hierarchy isolation, and bad input.

A token of one tenant never sees or releases another tenant's held deletes; a
connector receives and applies only its own hierarchy's orders; malformed
requests are JSON errors with stable codes and change nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bridge.tenant.errors import CloudApiError
from cloud.contract.attach import Heartbeat
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client, audit_entries, connector_for, group

MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


@MODULE
async def test_tenants_and_hierarchies_never_see_each_others_orders(
    service: RunningService,
) -> None:
    n = uuid.uuid4().hex[:8]
    _, token_a = await service.tenant_with_admin(f"iso-a-{n}")
    _, token_b = await service.tenant_with_admin(f"iso-b-{n}")
    async with admin_client(service, token_a) as a, admin_client(service, token_b) as b:
        # Tenant A: hierarchies X and Y. Tenant B: its own X and a hierarchy only it has.
        ax, ay = await connector_for(service, a, "H-X"), await connector_for(service, a, "H-Y")
        bx, bonly = await connector_for(service, b, "H-X"), await connector_for(service, b, "H-B")
        for c in (ax, ay, bx, bonly):
            await c.client.heartbeat(Heartbeat(held_deletes=[group("c1", 900, 1)]))
        b_order = await b.release_held_deletes("H-X", "c1")
        y_order = await a.release_held_deletes("H-Y")
        # A's token cannot see or release B's hierarchy, and its own H-X is its own.
        for call in (
            a.held_deletes("H-B"),
            a.delete_releases("H-B"),
            a.release_held_deletes("H-B", "c1"),
        ):
            with pytest.raises(CloudApiError) as refused:
                await call
            assert (refused.value.status, refused.value.code) == (404, "not_found")
        assert await a.delete_releases("H-X") == []
        assert [r.release_id for r in await b.delete_releases("H-X")] == [b_order.release_id]
        # Each connector receives only its own hierarchy's orders...
        assert (await ax.client.heartbeat(Heartbeat())).delete_releases == []
        assert (await bonly.client.heartbeat(Heartbeat())).delete_releases == []
        [got] = (await bx.client.heartbeat(Heartbeat())).delete_releases
        assert got.release_id == b_order.release_id
        # ...and cannot apply another's: the order stays pending where it belongs.
        stolen = Heartbeat(applied_releases=[b_order.release_id, y_order.release_id])
        assert (await ax.client.heartbeat(stolen)).delete_releases == []
        [still] = (await ay.client.heartbeat(Heartbeat())).delete_releases
        assert still.release_id == y_order.release_id
        [still] = (await bx.client.heartbeat(Heartbeat())).delete_releases
        assert still.release_id == b_order.release_id
        assert (await b.delete_releases("H-X"))[0].applied_at is None
        # A report of A's H-X never replaces B's.
        await ax.client.heartbeat(Heartbeat(held_deletes=[]))
        assert [g.cycle_id for g in (await b.held_deletes("H-X")).value] == ["c1"]
        for c in (ax, ay, bx, bonly):
            await c.client.close()
    assert not [e for e in await audit_entries(service, token_b) if "iso-a" in e["actor"]]


@MODULE
async def test_bad_input_is_a_json_error_with_a_stable_code(service: RunningService) -> None:
    _, token = await service.tenant_with_admin(f"bad-{uuid.uuid4().hex[:8]}")
    session = service.session(token=token)
    async with admin_client(service, token) as admin:
        connector = await connector_for(service, admin, "H-BAD")
        await connector.client.close()
    api = f"{service.api_url}/api/v1/hierarchies/H-BAD/held-deletes"

    async def refused(status: int, code: str, **kwargs: Any) -> dict[str, Any]:
        url = kwargs.pop("url", f"{api}/release")
        async with session.post(url, **kwargs) as r:
            assert r.status == status, await r.text()
            assert r.content_type == "application/json"
            error = (await r.json())["error"]
        assert error["code"] == code, error
        assert error["message"], error
        return error

    # Nothing reported yet, then a report without the cycle asked for.
    await refused(409, "nothing_held", json={})
    beat = f"{service.connector_url}/connector/v1/heartbeat"
    report = {"heldDeletes": [{"cycleId": "c1", "count": 3, "heldAt": "2026-11-01T09:00:00Z"}]}
    async with connector.session.post(beat, json=report) as r:
        assert r.status == 200, await r.text()
    error = await refused(409, "nothing_held", json={"cycleId": "c404"})
    assert "c404" in error["message"]
    await refused(
        400, "invalid_body", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    for body in ({"cycleId": ""}, {"cycleId": 5}, {"cycle": "c1"}, ["c1"], {"cycleId": "x" * 65}):
        await refused(400, "invalid_body", json=body)
    await refused(415, "unsupported_media_type", data=b"cycleId=c1")
    await refused(404, "not_found", json={}, url=api.replace("H-BAD", "H-NONE") + "/release")
    async with session.get(api.replace("H-BAD", "H-NONE")) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (404, "not_found")
    # Heartbeats with a malformed report or applied id are refused whole, and change nothing.
    for bad in (
        {
            "heldDeletes": [
                {
                    "cycleId": "c2",
                    "count": 1,
                    "heldAt": "2026-11-01T09:00:00Z",
                    "sample": [{"smsid": "not-an-smsid"}],
                }
            ]
        },
        {"heldDeletes": [{"cycleId": "c2", "count": -1, "heldAt": "2026-11-01T09:00:00Z"}]},
        {"heldDeletes": [{"cycleId": "c2", "count": 1}]},
        {"appliedReleases": ["not-a-uuid"]},
        {"appliedReleases": [str(uuid.uuid4()) for _ in range(101)]},
    ):
        async with connector.session.post(beat, json=bad) as r:
            assert r.status == 400, await r.text()
            assert (await r.json())["error"]["code"] == "invalid_body"
    async with admin_client(service, token) as admin:
        assert [g.cycle_id for g in (await admin.held_deletes("H-BAD")).value] == ["c1"]
    # A detached hierarchy has nothing left to release.
    async with session.post(f"{service.api_url}/api/v1/hierarchies/H-BAD/detach") as r:
        assert r.status == 200, await r.text()
    await refused(409, "hierarchy_detached", json={"cycleId": "c1"})
