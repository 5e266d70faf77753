"""The cloud gate over real HTTPS: fencing of grants and revokes, the arbiter's reports, counts.

Commands are decided by `workloads.gate.decide` against the stored record and
answered in order; applied ones are logged in order. Reported records never
go back; counts and per-device views show both the arbiter's record and the
gate's, with the conflicts between them. Runs on SQLite and PostgreSQL, one
service per backend for the module.
"""

from __future__ import annotations

import pytest

from bridge.tenant.errors import CloudApiError
from cloud.contract.authority import AuthorityReply
from tests.support.authority_world import attached, grant, revoke, state
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.store_records import smsid
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.gate import SideGate
from workloads.handoff import Phase
from workloads.messages import Ack, Stale

MODULE = pytest.mark.asyncio(loop_scope="module")
C, APPS, OFFICE, CONFIG = (
    Workload.COMPLIANCE,
    Workload.CLIENT_APPS,
    Workload.OFFICE_APPS,
    Workload.DEVICE_CONFIGURATION,
)


service = shared_service  # one service per module and backend


def _reply(r: AuthorityReply) -> tuple:
    return (r.op.value, r.smsid, r.workload, r.epoch, r.result, r.seen_epoch, r.seen_holds)


@MODULE
async def test_grants_and_revokes_are_fenced_and_answered_in_order(
    service: RunningService,
) -> None:
    async with attached(service, [1, 2, 3]) as world:
        commands = [
            grant(1, C, 1),
            grant(1, C, 1),  # the same again: acknowledged, nothing changes
            revoke(1, C, 1),  # a revoke after the grant of its epoch: an old duplicate
            grant(2, APPS, 3),
            revoke(2, APPS, 4),
            grant(2, APPS, 2),  # lower than what the gate has seen
            revoke(3, OFFICE, 0),  # the initial record already: acknowledged
        ]
        answer = await world.connector.authority_commands(commands)
        assert [_reply(r) for r in answer.replies] == [
            ("grant", smsid(1), C, 1, "ack", None, None),
            ("grant", smsid(1), C, 1, "ack", None, None),
            ("revoke", smsid(1), C, 1, "stale", 1, True),
            ("grant", smsid(2), APPS, 3, "ack", None, None),
            ("revoke", smsid(2), APPS, 4, "ack", None, None),
            ("grant", smsid(2), APPS, 2, "stale", 4, False),
            ("revoke", smsid(3), OFFICE, 0, "ack", None, None),
        ]
        # The replies are the domain's: what the pure gate answers to the same commands.
        gate = SideGate(Holder.CLOUD)
        expected = [gate.handle(c.message()).reply for c in commands]
        assert [r.message() for r in answer.replies] == expected
        assert isinstance(expected[0], Ack)
        assert isinstance(expected[2], Stale)

        # Only applied commands are logged, in order, with times that never go back.
        log = await world.admin.authority_gate_log(world.hierarchy_id)
        assert [(e.kind, e.smsid, e.workload, e.epoch) for e in log.value] == [
            ("grant", smsid(1), C, 1),
            ("grant", smsid(2), APPS, 3),
            ("revoke", smsid(2), APPS, 4),
        ]
        assert [e.seq for e in log.value] == sorted({e.seq for e in log.value})
        assert [e.at for e in log.value] == sorted(e.at for e in log.value)
        assert (log.since, log.more) == (log.value[-1].seq, False)

        one = await world.admin.device_authority(world.device_ids[1])
        assert [w.workload for w in one.value] == list(ALL_WORKLOADS)
        by = {w.workload: w for w in one.value}
        assert (by[C].cloud_grant.epoch, by[C].cloud_grant.holds) == (1, True)
        assert (by[APPS].cloud_grant.epoch, by[APPS].cloud_grant.holds) == (0, False)
        assert (by[C].holder, by[C].reported_at) == (None, None), "nothing reported yet"
        two = await world.admin.device_authority(world.device_ids[2])
        apps = next(w for w in two.value if w.workload is APPS)
        assert (apps.cloud_grant.epoch, apps.cloud_grant.holds) == (4, False)

        # Sending the whole batch again changes nothing and logs nothing.
        again = await world.connector.authority_commands(commands)
        assert [r.result for r in again.replies] == [
            "ack",
            "ack",
            "stale",
            "stale",  # grant(3) is now below revoke(4)
            "ack",
            "stale",
            "ack",
        ]
        assert (await world.admin.authority_gate_log(world.hierarchy_id)).value == log.value


@MODULE
async def test_a_thousand_commands_in_one_batch_come_back_in_their_order(
    service: RunningService,
) -> None:
    async with attached(service, [1]) as world:
        # 50 devices x 7 workloads, each record commanded about three times in the
        # batch (epochs 2, 1, 3): later commands see what earlier ones applied.
        commands = []
        for i in range(1000):
            n, workload = 1 + (i // 7) % 50, ALL_WORKLOADS[i % 7]
            epoch = (2, 1, 3)[i // 350]
            commands.append(grant(n, workload, epoch) if i % 2 else revoke(n, workload, epoch))
        answer = await world.connector.authority_commands(commands)
        assert len(answer.replies) == 1000
        sent = [(c.op, c.smsid, c.workload, c.epoch) for c in commands]
        assert [(r.op, r.smsid, r.workload, r.epoch) for r in answer.replies] == sent
        gate = SideGate(Holder.CLOUD)
        assert [r.message() for r in answer.replies] == [
            gate.handle(c.message()).reply for c in commands
        ]
        assert {r.result for r in answer.replies} == {"ack", "stale"}
        # The client splits longer lists into consecutive batches, still in order.
        more = [grant(200, w, e) for e in range(1, 180) for w in ALL_WORKLOADS]
        answer = await world.connector.authority_commands(more)
        assert len(answer.replies) == len(more) > 1000
        assert {r.result for r in answer.replies} == {"ack"}
        page = await world.admin.authority_gate_log(world.hierarchy_id, since=0, top=5000)
        applied = [e for e in page.value if e.smsid == smsid(200)]
        assert len(applied) == len(more)


@MODULE
async def test_reported_states_counts_conflicts_and_features(service: RunningService) -> None:
    async with attached(service, [1, 2, 3]) as world:
        await world.connector.authority_commands(
            [grant(1, C, 1), grant(3, OFFICE, 1), grant(3, CONFIG, 2), revoke(3, CONFIG, 3)]
        )
        ack = await world.connector.report_authority(
            [
                state(1, C, 1, holder=Holder.CLOUD, desired=Holder.CLOUD),
                state(1, APPS, 0),
                state(2, C, 1, phase=Phase.REVOKING, target=Holder.CLOUD, desired=Holder.CLOUD),
                # The arbiter says the cloud holds, the gate has no grant: drift.
                state(2, CONFIG, 2, holder=Holder.CLOUD, desired=Holder.CLOUD),
                # Drift the arbiter observed itself.
                state(3, C, 2, conflict="site_applying_without_grant"),
                # The arbiter says the site holds at 1, the cloud gate holds at 1: drift.
                state(3, OFFICE, 1),
                # The gate is ahead of the report (revoked at 3): a handoff, not drift.
                state(3, CONFIG, 2, holder=Holder.CLOUD, desired=Holder.CONFIGMGR),
            ]
        )
        assert (ack.received, ack.applied, ack.ignored) == (7, 7, 0)

        counts = {w.workload: w for w in (await world.admin.workload_counts()).value}
        assert list(counts) == list(ALL_WORKLOADS)
        assert counts[C].counts.model_dump() == {"configmgr": 1, "cloud": 1, "in_handoff": 1}
        assert counts[C].conflicts == 1
        assert (counts[C].cloud_grants, counts[C].flag_bit) == (1, 2)
        assert counts[APPS].counts.configmgr == 1
        assert (counts[CONFIG].counts.cloud, counts[CONFIG].conflicts) == (2, 1)
        assert (counts[OFFICE].conflicts, counts[OFFICE].cloud_grants) == (1, 1)
        assert counts[Workload.WINDOWS_UPDATE].reported_at is None
        assert counts[C].reported_at is not None

        two = {
            w.workload: w for w in (await world.admin.device_authority(world.device_ids[2])).value
        }
        assert (two[C].phase, two[C].target, two[C].gate_conflict) == (
            Phase.REVOKING,
            Holder.CLOUD,
            None,
        )
        assert two[CONFIG].gate_conflict == "cloud_gate_lacks_grant"
        three = {
            w.workload: w for w in (await world.admin.device_authority(world.device_ids[3])).value
        }
        assert three[C].conflict == "site_applying_without_grant"
        assert three[OFFICE].gate_conflict == "cloud_gate_holds_for_site"
        assert three[CONFIG].gate_conflict is None

        # Graph's per-workload booleans on the device detail: settled on the cloud only.
        detail = await world.admin.device(world.device_ids[1])
        features = detail.configuration_manager_client_enabled_features
        assert features is not None
        assert features.compliance_policy
        assert (features.modern_apps, features.device_configuration) == (False, False)
        wire = features.model_dump(by_alias=True)
        assert set(wire) == {w.feature_name for w in ALL_WORKLOADS}
        two_detail = await world.admin.device(world.device_ids[2])
        features = two_detail.configuration_manager_client_enabled_features
        assert features is not None
        assert {k for k, v in features.model_dump(by_alias=True).items() if v} == {CONFIG.value}

        # Older records are ignored: a lower epoch, or an earlier phase of the same epoch.
        older = [
            state(1, C, 0),
            state(1, C, 1, holder=None, phase=Phase.GRANTING, target=Holder.CLOUD),
        ]
        ack = await world.connector.report_authority(older)
        assert (ack.applied, ack.ignored) == (0, 2)
        one = {
            w.workload: w for w in (await world.admin.device_authority(world.device_ids[1])).value
        }
        assert (one[C].holder, one[C].epoch, one[C].phase) == (Holder.CLOUD, 1, Phase.HELD)
        # The same epoch and phase replaces (the arbiter's conflict note changed).
        same = state(1, C, 1, holder=Holder.CLOUD, desired=Holder.CLOUD, conflict="seen")
        ack = await world.connector.report_authority([same])
        assert ack.applied == 1
        one = {
            w.workload: w for w in (await world.admin.device_authority(world.device_ids[1])).value
        }
        assert one[C].conflict == "seen"
        # Within one report, the newest of a record wins, whatever the order.
        newer = state(2, C, 1, holder=None, phase=Phase.GRANTING, target=Holder.CLOUD)
        ack = await world.connector.report_authority([newer, state(2, C, 0)])
        assert (ack.received, ack.applied, ack.ignored) == (2, 1, 1)
        two = {
            w.workload: w for w in (await world.admin.device_authority(world.device_ids[2])).value
        }
        assert two[C].phase is Phase.GRANTING


@MODULE
async def test_unknown_devices_and_hierarchies_are_not_found(service: RunningService) -> None:
    async with attached(service, [1]) as world:
        for call in (
            world.admin.device_authority("00000000-0000-4000-8000-000000000000"),
            world.admin.authority_deliveries("H-NOWHERE"),
            world.admin.authority_gate_log("H-NOWHERE"),
            world.admin.issue_checkin_credential("nope"),
        ):
            with pytest.raises(CloudApiError) as refused:
                await call
            assert refused.value.code == "not_found"
