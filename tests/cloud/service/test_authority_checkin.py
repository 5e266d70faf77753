"""Device check-in over real HTTPS: the cloud gate delivers only what it holds, and logs it.

A device authenticates with a secret an operator issued; it gets exactly the
workloads the cloud gate holds for its (hierarchy, SMSID), with the grant
epochs, and each delivery is logged in the hierarchy's authority log, which
the invariant checker replays. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bridge.tenant.errors import CloudAuthError, CloudError
from cloud.contract.admin import Role
from tests.support.authority_world import aad, attached, grant, revoke
from tests.support.cloud_service import RunningService
from tests.support.raw_http import raw_request
from tests.support.service_fixtures import shared_service
from tests.support.store_records import batch, record, smsid
from tests.support.tenant_clients import admin_client
from workloads.catalog import Holder, Workload
from workloads.invariant import GrantEvent, InvariantChecker, RevokeEvent

MODULE = pytest.mark.asyncio(loop_scope="module")
C, APPS, OFFICE = Workload.COMPLIANCE, Workload.CLIENT_APPS, Workload.OFFICE_APPS


service = shared_service  # one service per module and backend


async def _code(call: object) -> str:
    with pytest.raises(CloudError) as refused:
        await call  # type: ignore[misc]
    return getattr(refused.value, "code", type(refused.value).__name__)


@MODULE
async def test_check_in_delivers_exactly_the_held_workloads_and_logs_them(
    service: RunningService,
) -> None:
    async with attached(service, [1, 2]) as world:
        await world.connector.authority_commands(
            [grant(1, APPS, 5), grant(1, C, 3), grant(1, OFFICE, 2), revoke(1, OFFICE, 4)]
        )
        async with world.device(await world.secret(1)) as device:
            first = await device.check_in()
            assert first.device_id == world.device_ids[1]
            # Catalog order, each with its grant's epoch and its policies.
            assert [(w.workload, w.epoch) for w in first.workloads] == [(C, 3), (APPS, 5)]
            assert [p.id for p in first.workloads[0].policies] == ["compliancePolicy-baseline"]

            # A revoke ends the delivery; a new grant starts it under its own epoch.
            await world.connector.authority_commands([revoke(1, C, 4)])
            assert [(w.workload, w.epoch) for w in (await device.check_in()).workloads] == [
                (APPS, 5)
            ]
            await world.connector.authority_commands([revoke(1, APPS, 6), grant(1, OFFICE, 7)])
            assert [(w.workload, w.epoch) for w in (await device.check_in()).workloads] == [
                (OFFICE, 7)
            ]
        # Device 2 holds nothing: an empty answer, and nothing logged.
        async with world.device(await world.secret(2)) as other:
            assert (await other.check_in()).workloads == []

        deliveries = await world.admin.authority_deliveries(world.hierarchy_id)
        assert [(e.kind, e.smsid, e.workload, e.epoch) for e in deliveries.value] == [
            ("delivery", smsid(1), C, 3),
            ("delivery", smsid(1), APPS, 5),
            ("delivery", smsid(1), APPS, 5),
            ("delivery", smsid(1), OFFICE, 7),
        ]
        # Keyset pages by sequence, which deliveries share with the gate's log.
        page = await world.admin.authority_deliveries(world.hierarchy_id, top=3)
        assert (len(page.value), page.more) == (3, True)
        rest = await world.admin.authority_deliveries(world.hierarchy_id, since=page.since)
        assert page.value + rest.value == deliveries.value
        assert rest.more is False
        empty = await world.admin.authority_deliveries(world.hierarchy_id, since=rest.since)
        assert (empty.value, empty.since, empty.more) == ([], rest.since, False)

        # Merged by sequence, the gate's log and the deliveries replay without a
        # violation of the cloud side, once the site's side is in the log too.
        gate_log = await world.admin.authority_gate_log(world.hierarchy_id)
        merged = sorted(gate_log.value + deliveries.value, key=lambda e: e.seq)
        assert [e.at for e in merged] == sorted(e.at for e in merged)
        checker = InvariantChecker()
        for entry in merged:
            event = entry.event()
            if isinstance(event, GrantEvent):
                # The site let go first (break before make), at the same time.
                site = RevokeEvent(
                    Holder.CONFIGMGR, event.device, event.workload, event.epoch, event.at
                )
                checker.feed(site)
            checker.feed(event)
        assert checker.finish() == []
        assert checker.holders(smsid(1), OFFICE) == {Holder.CLOUD}


@MODULE
async def test_a_device_secret_that_is_not_text_is_401_not_500(service: RunningService) -> None:
    # A raw non-UTF-8 byte in a real device secret, and in its credential id,
    # written byte for byte (aiohttp's client sends only text).
    async with attached(service, [1]) as world:
        secret = await world.secret(1)
        credential_id = secret.split("_")[1]
        for presented in (
            secret.encode() + b"\xe9",
            b"cbd_" + credential_id[:-1].encode() + b"\xe9_" + secret.split("_", 2)[2].encode(),
        ):
            answer = await raw_request(
                f"{service.api_url}/device/v1/checkin",
                service.trust(),
                "POST",
                [b"Authorization: Bearer " + presented, b"Content-Type: application/json"],
                b"{}",
            )
            assert answer.status == 401, answer.body[:300]
            assert json.loads(answer.body)["error"]["code"] == "invalid_token"
        async with world.device(secret) as device:
            assert (await device.check_in()).device_id == world.device_ids[1]


@MODULE
async def test_device_secrets_are_issued_by_operators_rotated_and_kept_apart(
    service: RunningService,
) -> None:
    async with attached(service, [1]) as world:
        viewer = await service.token_for(world.tenant_id, "auth-viewer", Role.VIEWER)
        async with admin_client(service, viewer) as read_only:
            assert (
                await _code(read_only.issue_checkin_credential(world.device_ids[1])) == "forbidden"
            )
        first = await world.admin.issue_checkin_credential(world.device_ids[1])
        assert first.secret.startswith(f"cbd_{first.credential_id}_")
        second = await world.secret(1)
        async with world.device(first.secret) as stale, world.device(second) as current:
            assert await _code(stale.check_in()) == "invalid_token", "issuing again revokes"
            assert (await current.check_in()).device_id == world.device_ids[1]
        # A device secret is no API token.
        async with admin_client(service, second) as device_as_admin:
            answer = device_as_admin.device_authority(world.device_ids[1])
            assert await _code(answer) == "invalid_token"
        # An API token is no device secret; no secret at all is refused too.
        async with world.device(world.token) as admin_as_device:
            assert await _code(admin_as_device.check_in()) == "invalid_token"
        async with world.service.session().post(f"{service.api_url}/device/v1/checkin") as r:
            assert (r.status, (await r.json())["error"]["code"]) == (401, "unauthenticated")
        # Check-in is not served on the connector listener, certificate or not.
        async with world.raw.post(f"{service.connector_url}/device/v1/checkin") as r:
            assert r.status == 404
        # Only devices with an Entra id check in.
        await world.connector.ingest(batch(world.hierarchy_id, 2, [record(9)]))
        page = await world.admin.list_devices()
        [bare] = [d["id"] for d in page.value if d["smsid"] == smsid(9)]
        assert await _code(world.admin.issue_checkin_credential(bare)) == "conflict"
        # The secret is kept only as a digest.
        async with service.state.engine.connect() as conn:
            stored = (
                await conn.execute(sa.text("SELECT secret_hash FROM device_credentials"))
            ).all()
        assert not any(second.split("_", 2)[2] in str(row) for row in stored)


@MODULE
async def test_mdm_only_devices_get_nothing_until_linked_then_their_grants(
    service: RunningService,
) -> None:
    async with attached(service, [1]) as world:
        operator = await service.token_for(world.tenant_id, "auth-operator", Role.OPERATOR)
        # The MDM enrollment of a device the site has not reported yet.
        mdm = {"azureAdDeviceId": aad(5), "deviceName": "LAPTOP-5"}
        url = f"{service.api_url}/api/v1/managedDevices"
        async with service.session(token=operator).post(url, json=mdm) as r:
            assert r.status == 201, await r.text()
            enrolled_id = (await r.json())["id"]
        async with admin_client(service, operator) as ops:
            secret = (await ops.issue_checkin_credential(enrolled_id)).secret
        await world.connector.authority_commands([grant(5, C, 1)])
        async with world.device(secret) as device:
            alone = await device.check_in()
            assert (alone.device_id, alone.workloads) == (enrolled_id, [])
            authority = await world.admin.device_authority(enrolled_id)
            assert (authority.smsid, {w.cloud_grant.holds for w in authority.value}) == (
                None,
                {False},
            )
            # The site's record arrives with the same Entra id: the MDM record is linked
            # to (and replaced by) the attached device, and the secret follows it.
            await world.connector.ingest(
                batch(world.hierarchy_id, 2, [record(5, aad_device_id=aad(5))])
            )
            linked = await device.check_in()
            assert linked.device_id != enrolled_id
            assert [(w.workload, w.epoch) for w in linked.workloads] == [(C, 1)]


@MODULE
async def test_another_tenants_grants_never_reach_a_device(service: RunningService) -> None:
    # Two tenants with the same hierarchy id and the same devices (SMSIDs, Entra ids).
    async with attached(service, [1, 2]) as a, attached(service, [1, 2]) as b:
        assert a.hierarchy_id == b.hierarchy_id
        await a.connector.authority_commands([grant(1, C, 1), grant(2, APPS, 1)])
        await b.connector.authority_commands([grant(1, OFFICE, 4)])
        async with a.device(await a.secret(1)) as in_a, b.device(await b.secret(1)) as in_b:
            assert [w.workload for w in (await in_a.check_in()).workloads] == [C]
            assert [w.workload for w in (await in_b.check_in()).workloads] == [OFFICE]
        assert [e.workload for e in (await b.admin.authority_deliveries(b.hierarchy_id)).value] == [
            OFFICE
        ]
        counts = {w.workload: w.cloud_grants for w in (await b.admin.workload_counts()).value}
        assert (counts[C], counts[APPS], counts[OFFICE]) == (0, 0, 1)
        # Neither tenant's admin can read or issue for the other's device.
        for code in (
            await _code(a.admin.device_authority(b.device_ids[1])),
            await _code(a.admin.issue_checkin_credential(b.device_ids[1])),
            await _code(b.admin.authority_gate_log("H-NOWHERE")),
        ):
            assert code == "not_found"


@MODULE
async def test_a_device_secret_is_refused_once_its_device_is_deleted(
    service: RunningService,
) -> None:
    async with attached(service, [1]) as world:
        await world.connector.authority_commands([grant(1, C, 1)])
        async with world.device(await world.secret(1)) as device:
            assert len((await device.check_in()).workloads) == 1
            await world.connector.ingest(batch(world.hierarchy_id, 2, tombstones=[1]))
            gone = await device.check_in()
            assert gone.workloads == [], "a deleted device gets nothing, whatever the gate holds"
        with pytest.raises(CloudAuthError):
            async with world.device("cbd_" + "0" * 32 + "_nope") as forged:
                await forged.check_in()
        assert await _code(world.admin.issue_checkin_credential(world.device_ids[1])) == "not_found"
