"""The cloud gate under races and refusals, over real HTTPS, on SQLite and PostgreSQL.

Concurrent batches for the same records from two connectors never let a lower
epoch win; concurrent reports keep the newest record. Bad bodies and queries
get JSON errors with stable codes; a detached hierarchy's connector is refused.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudApiError
from cloud.contract.attach import HierarchyRegistration
from cloud.contract.authority import AuthorityCommand
from tests.support.authority_world import attached, grant, revoke, state
from tests.support.cloud_service import RunningService, new_key_and_csr
from tests.support.service_fixtures import shared_service
from tests.support.store_records import smsid
from tests.support.tenant_clients import connector_for
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.handoff import Phase
from workloads.messages import Op, token

MODULE = pytest.mark.asyncio(loop_scope="module")
C, APPS = Workload.COMPLIANCE, Workload.CLIENT_APPS
_JSON = {"Content-Type": "application/json"}


service = shared_service  # one service per module and backend


def _command(n: int, workload: Workload, epoch: int) -> AuthorityCommand:
    # Odd epochs grant, even ones revoke: the last (13) leaves the cloud holding.
    return grant(n, workload, epoch) if epoch % 2 else revoke(n, workload, epoch)


@MODULE
async def test_concurrent_batches_never_let_a_lower_epoch_win(service: RunningService) -> None:
    keys = [(n, w) for n in range(1, 11) for w in (C, APPS)]
    epochs = range(1, 14)
    rng = random.Random(7)
    async with attached(service, list(range(1, 11))) as world:
        second = await connector_for(service, world.admin, world.hierarchy_id)
        async with second.client as other:

            async def stream(client: ConnectorClient, order: list[int]) -> list[Any]:
                answers = []
                for epoch in order:
                    commands = [_command(n, w, epoch) for n, w in keys]
                    rng.shuffle(commands)
                    answers.append((commands, await client.authority_commands(commands)))
                return answers

            up, down, mixed = await asyncio.gather(
                stream(world.connector, list(epochs)),
                stream(other, list(reversed(epochs))),
                stream(other, rng.sample(list(epochs), len(epochs))),
            )
        log = await world.admin.authority_gate_log(world.hierarchy_id, top=5000)
        applied: dict[tuple[str, Workload], list[tuple[int, int]]] = {}
        for entry in log.value:
            op = Op(entry.kind)
            applied.setdefault((entry.smsid, entry.workload), []).append(token(entry.epoch, op))
        assert len(applied) == len(keys)
        for key, tokens in applied.items():
            assert tokens == sorted(set(tokens)), f"{key}: the gate went back: {tokens}"
            assert tokens[-1] == token(13, Op.GRANT), key
        # Once a command is acknowledged, a lower one from the same stream is stale.
        for answers in (up, down, mixed):
            highest: dict[tuple[str, Workload], tuple[int, int]] = {}
            for _commands, replies in answers:
                for reply in replies.replies:
                    key, offered = (reply.smsid, reply.workload), token(reply.epoch, reply.op)
                    if offered < highest.get(key, (-1, -1)):
                        assert reply.result == "stale", reply
                    if reply.result == "ack":
                        highest[key] = max(highest.get(key, (-1, -1)), offered)
        # The stream from the top applied its first batch at once; the rest was stale.
        assert {r.result for r in down[0][1].replies} == {"ack"}
        assert {r.result for _c, a in down[1:] for r in a.replies} == {"stale"}
        async with world.device(await world.secret(1)) as device:
            delivered = (await device.check_in()).workloads
        assert [(w.workload, w.epoch) for w in delivered] == [(C, 13), (APPS, 13)]


@MODULE
async def test_concurrent_reports_keep_the_newest_record(service: RunningService) -> None:
    async with attached(service, [1]) as world:
        second = await connector_for(service, world.admin, world.hierarchy_id)
        async with second.client as other:
            records = [
                [state(1, w, e, holder=Holder.CLOUD, desired=Holder.CLOUD) for w in ALL_WORKLOADS]
                for e in range(1, 11)
            ]
            await asyncio.gather(
                *(world.connector.report_authority(r) for r in records),
                *(other.report_authority(r) for r in reversed(records)),
            )
        authority = await world.admin.device_authority(world.device_ids[1])
        assert {(w.epoch, w.phase) for w in authority.value} == {(10, Phase.HELD)}


async def _error(session: Any, method: str, url: str, **kwargs: Any) -> tuple[int, dict]:
    async with session.request(method, url, **kwargs) as r:
        assert r.content_type == "application/json", await r.text()
        return r.status, (await r.json())["error"]


@MODULE
async def test_bad_bodies_and_queries_get_stable_codes(service: RunningService) -> None:
    async with attached(service, [1]) as world:
        commands = f"{service.connector_url}/connector/v1/authority/commands"
        states = f"{service.connector_url}/connector/v1/authority/states"
        good = grant(1, C, 1).wire()
        cases: list[tuple[str, Any, str]] = [
            (commands, {"commands": [{**good, "workload": "inventory"}]}, "commands.0.workload"),
            (commands, {"commands": [{**good, "epoch": -1}]}, "commands.0.epoch"),
            (commands, {"commands": [{**good, "op": "transfer"}]}, "commands.0.op"),
            (commands, {"commands": [{**good, "smsid": "WKS0001"}]}, "commands.0.smsid"),
            (commands, {"commands": [good] * 1001}, "commands"),
            (commands, {"commands": []}, "commands"),
            (commands, {"commands": [{**good, "holder": "cloud"}]}, "commands.0.holder"),
        ]
        held = state(1, C, 1).wire()
        cases += [
            (states, {"records": [{**held, "target": "cloud"}]}, "records.0"),
            (states, {"records": [{**held, "phase": "granting"}]}, "records.0"),
            (states, {"records": [{**held, "conflict": "a\\nb\x01"}]}, "records.0.conflict"),
            (states, {"records": [held] * 5001}, "records"),
        ]
        for url, body, field in cases:
            status, error = await _error(world.raw, "POST", url, json=body)
            assert (status, error["code"]) == (400, "invalid_body"), (body, error)
            assert any(d["field"].startswith(field) for d in error["details"]), (field, error)
        status, error = await _error(world.raw, "POST", commands, data=b"{", headers=_JSON)
        assert (status, error["code"]) == (400, "invalid_body")
        # Nothing of it reached the gate.
        assert (await world.admin.authority_gate_log(world.hierarchy_id)).value == []

        base = f"{service.api_url}/api/v1/hierarchies/{world.hierarchy_id}/authority"
        admin = service.session(token=world.token)
        for params in ({"$top": "0"}, {"$top": "5001"}, {"since": "-1"}, {"since": "x"}):
            for log in ("deliveries", "gateLog"):
                status, error = await _error(admin, "GET", f"{base}/{log}", params=params)
                assert (status, error["code"]) == (400, "invalid_query"), (params, error)


@MODULE
async def test_a_detached_hierarchy_is_refused_until_attached_again(
    service: RunningService,
) -> None:
    async with attached(service, [1]) as world:
        await world.connector.authority_commands([grant(1, C, 5)])
        await world.connector.report_authority([state(1, C, 5, holder=Holder.CLOUD)])
        counts = {w.workload: w for w in (await world.admin.workload_counts()).value}
        assert (counts[C].counts.cloud, counts[C].cloud_grants) == (1, 1)
        detach = f"{service.api_url}/api/v1/hierarchies/{world.hierarchy_id}/detach"
        async with service.session(token=world.token).post(detach) as r:
            assert r.status == 200, await r.text()
        with pytest.raises(CloudApiError) as revoked:
            await world.connector.authority_commands([grant(1, C, 6)])
        assert revoked.value.code == "certificate_revoked"
        # A detached hierarchy's records no longer count.
        counts = {w.workload: w for w in (await world.admin.workload_counts()).value}
        assert (counts[C].counts.cloud, counts[C].cloud_grants) == (0, 0)

        # A new connector of the hierarchy, enrolled but not yet registered: refused.
        code = await world.admin.create_attach_code(hierarchy_id=world.hierarchy_id)
        key_pem, csr = new_key_and_csr()
        async with ConnectorClient(
            None, service.connector_url, ca_pem=service.root_pem
        ) as anonymous:
            enrolled = await anonymous.enroll(code.code, csr, world.hierarchy_id, "PS1")
        chain = (enrolled.certificate_pem + enrolled.ca_chain_pem).encode()
        async with anonymous.with_certificate(chain, key_pem) as fresh:
            for call in (
                fresh.authority_commands([grant(1, C, 6)]),
                fresh.report_authority([state(1, C, 6)]),
            ):
                with pytest.raises(CloudApiError) as detached:
                    await call
                assert (detached.value.status, detached.value.code) == (409, "hierarchy_detached")
            # Registered again, it is attached; the gate kept its fencing across the detachment.
            await fresh.register_hierarchy(
                HierarchyRegistration(hierarchy_id=world.hierarchy_id, site_code="PS1")
            )
            replies = await fresh.authority_commands([grant(1, C, 4), revoke(1, C, 6)])
            assert [r.result for r in replies.replies] == ["stale", "ack"]
        last = (await world.admin.authority_gate_log(world.hierarchy_id)).value[-1]
        assert (last.kind, last.smsid, last.epoch) == ("revoke", smsid(1), 6)
