"""The desired holders while a rollout runs: admitted devices as the target settings want
them, the others as before, the dependency rule kept; and a rollback that returns every
device to its prior holder, replayed through the handoff and the gates with the invariant
checker reporting nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from workloads.authority import DeviceFacts, desired_holders
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.gate import SideGate, Verdict
from workloads.handoff import AuthorityRecord, Phase, begin, initial_record, on_reply
from workloads.invariant import Event, GrantEvent, RevokeEvent, check
from workloads.messages import Command, Key
from workloads.rollout import RolloutOverlay, holders_during_rollout, parse_desired_state
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting

W = Workload
CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD
PILOT_A, PILOT_B, RING = "PS100014", "PS1000AF", "PS100020"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
ROLLOUT = {
    "name": "overlay",
    "waves": [
        {"collections": [RING], "soak": 0},
        {"percent": 30, "soak": "1h"},
        {"percent": 60, "soak": "1h"},
    ],
}


def facts(*collections: str, co_managed: bool = True) -> DeviceFacts:
    return DeviceFacts(
        agent_present=True,
        mdm_enrolled=co_managed,
        comgmt_policy_present=True,
        collection_ids=frozenset(collections),
    )


def document(**targets: dict[str, str]):
    return parse_desired_state({"workloads": targets, "rollout": ROLLOUT})


def smsid(n: int) -> str:
    return f"GUID:{n:08X}-0000-0000-0000-00000000AAAA"


setting_choices = st.sampled_from(
    [
        WorkloadSetting(),
        WorkloadSetting(slider=Slider.CLOUD),
        WorkloadSetting(slider=Slider.PILOT, pilot_collection=PILOT_A),
        WorkloadSetting(slider=Slider.PILOT, pilot_collection=PILOT_B),
    ]
)
site_settings = st.builds(
    lambda enabled, sliders: CoManagementSettings(enabled=enabled, workloads=sliders),
    st.booleans(),
    st.fixed_dictionaries(dict.fromkeys(ALL_WORKLOADS, setting_choices)),
)
target_docs = st.dictionaries(
    st.sampled_from(ALL_WORKLOADS),
    st.sampled_from(
        [
            {"slider": "configmgr"},
            {"slider": "cloud"},
            {"slider": "pilot", "pilot_collection": PILOT_A},
            {"slider": "pilot", "pilot_collection": PILOT_B},
        ]
    ),
    min_size=1,
).map(
    lambda targets: parse_desired_state(
        {"workloads": {w.value: t for w, t in targets.items()}, "rollout": ROLLOUT}
    )
)
device_facts = st.builds(
    lambda co, cols: facts(*cols, co_managed=co),
    st.booleans(),
    st.frozensets(st.sampled_from([PILOT_A, PILOT_B, RING])),
)


def obeys_dependency_rule(holders: dict[Workload, Holder]) -> bool:
    carrier = holders[W.DEVICE_CONFIGURATION]
    return holders[W.RESOURCE_ACCESS] is carrier and (
        carrier is CM or holders[W.ENDPOINT_PROTECTION] is CLOUD
    )


@given(site_settings, target_docs, device_facts, st.integers(0, 99))
def test_nobody_admitted_is_the_prior_settings_and_everybody_the_target(
    settings: CoManagementSettings, doc, device: DeviceFacts, n: int
) -> None:
    overlay = RolloutOverlay.build(settings, doc)
    assert overlay.holders(smsid(n), device) == desired_holders(settings, device)
    everyone = overlay.with_admitted(doc.final_stage)
    assert everyone.admits_everyone
    assert everyone.holders(smsid(n), device) == desired_holders(
        doc.target_settings(settings), device
    )


@given(site_settings, target_docs, device_facts, st.integers(0, 99), st.integers(0, 4))
def test_every_stage_keeps_the_dependency_rule_and_admission_only_grows(
    settings: CoManagementSettings, doc, device: DeviceFacts, n: int, through: int
) -> None:
    overlay = RolloutOverlay.build(settings, doc, through)
    holders = holders_during_rollout(overlay, smsid(n), device)
    assert obeys_dependency_rule(holders)
    admitted = overlay.admits(smsid(n), device)
    wanted = doc.target_settings(settings) if admitted else settings
    assert holders == desired_holders(wanted, device)
    assert admitted == (1 <= overlay.stage_of(smsid(n), device) <= through)
    if admitted:
        assert all(overlay.with_admitted(k).admits(smsid(n), device) for k in range(through, 5))
    # The prior holders, when the caller has them, are reused for devices not admitted.
    prior = desired_holders(settings, device)
    assert overlay.holders(smsid(n), device, prior) == holders
    assert overlay.rolled_back().holders(smsid(n), device) == prior


def test_a_wave_moving_device_configuration_carries_its_dependants_for_its_devices_only() -> None:
    settings = CoManagementSettings(enabled=True)
    doc = document(**{"device-configuration": {"slider": "cloud"}})
    overlay = RolloutOverlay.build(settings, doc, admitted_through=1)
    assert overlay.targets == {W.DEVICE_CONFIGURATION: WorkloadSetting(slider=Slider.CLOUD)}
    in_ring = overlay.holders(smsid(1), facts(RING))
    assert {w for w, h in in_ring.items() if h is CLOUD} == {
        W.DEVICE_CONFIGURATION,
        W.RESOURCE_ACCESS,
        W.ENDPOINT_PROTECTION,
    }
    outside = next(
        n for n in range(100) if not overlay.admits(smsid(n), facts())
    )  # not in the ring, not in a percentage wave yet admitted
    assert set(overlay.holders(smsid(outside), facts()).values()) == {CM}
    assert set(overlay.holders(smsid(1), facts(RING, co_managed=False)).values()) == {CM}


def test_device_configuration_leaving_the_cloud_returns_endpoint_protection_to_its_own_slider() -> (
    None
):
    # Before: Device configuration on the cloud carries Endpoint Protection, whose own
    # slider is a pilot. The prior holders alone cannot tell where it goes back to.
    settings = (
        CoManagementSettings(enabled=True)
        .with_workload(W.DEVICE_CONFIGURATION, WorkloadSetting(slider=Slider.CLOUD))
        .with_workload(
            W.ENDPOINT_PROTECTION, WorkloadSetting(slider=Slider.PILOT, pilot_collection=PILOT_A)
        )
    )
    doc = document(**{"device-configuration": {"slider": "configmgr"}})
    overlay = RolloutOverlay.build(settings, doc, admitted_through=1)
    member, other = facts(RING, PILOT_A), facts(RING)
    for device in (member, other):
        assert desired_holders(settings, device)[W.ENDPOINT_PROTECTION] is CLOUD
    assert (
        overlay.holders(smsid(1), member, desired_holders(settings, member))[W.ENDPOINT_PROTECTION]
        is CLOUD
    )
    moved = overlay.holders(smsid(2), other, desired_holders(settings, other))
    assert moved[W.ENDPOINT_PROTECTION] is CM
    assert moved[W.RESOURCE_ACCESS] is CM


class HandoffRig:
    """The arbiter's records, both sides' gates, and the log the invariant checker reads."""

    def __init__(self) -> None:
        self.gates = {CM: SideGate(CM), CLOUD: SideGate(CLOUD)}
        self.records: dict[Key, AuthorityRecord] = {}
        self.events: list[Event] = []
        self.now = T0

    def converge(self, desired: dict[Key, Holder]) -> None:
        """Hand every key to its desired holder, break before make, until it is held."""
        for key, holder in desired.items():
            record = self.records.get(key) or initial_record(*key)
            step = begin(record, holder)
            record, queue = step.record, list(step.send)
            while queue:
                command = queue.pop(0)
                decision = self.gates[command.side].handle(command)
                if decision.verdict is Verdict.APPLIED:
                    self.events.append(self._event(command))
                step = on_reply(record, decision.reply)
                record = step.record
                queue.extend(step.send)
            assert record.phase is Phase.HELD
            self.records[key] = record

    def _event(self, command: Command) -> Event:
        self.now += timedelta(seconds=1)
        kind = GrantEvent if command.op.value == "grant" else RevokeEvent
        return kind(command.side, command.device, command.workload, command.epoch, self.now)

    def holders(self, device: str) -> dict[Workload, Holder]:
        held = {}
        for workload in ALL_WORKLOADS:
            sides = [side for side, gate in self.gates.items() if gate.holds(device, workload)]
            assert len(sides) == 1, (device, workload, sides)
            held[workload] = sides[0]
        return held


def test_rollback_returns_every_device_to_its_prior_holder_with_no_violation() -> None:
    settings = CoManagementSettings(enabled=True).with_workload(
        W.WINDOWS_UPDATE, WorkloadSetting(slider=Slider.CLOUD)
    )
    doc = document(
        compliance={"slider": "cloud"},
        **{"device-configuration": {"slider": "pilot", "pilot_collection": PILOT_A}},
        **{"windows-update": {"slider": "configmgr"}},
    )
    fleet = {
        smsid(n): facts(*cols, co_managed=n % 7 != 3)
        for n, cols in enumerate([(RING, PILOT_A), (PILOT_A,), (), (RING,), (PILOT_B, PILOT_A)] * 8)
    }
    rig = HandoffRig()
    prior = {d: desired_holders(settings, f) for d, f in fleet.items()}

    def desired(overlay: RolloutOverlay) -> dict[Key, Holder]:
        return {
            (device, w): holder
            for device, device_facts in fleet.items()
            for w, holder in overlay.holders(device, device_facts, prior[device]).items()
        }

    rig.converge(desired(RolloutOverlay.build(settings, doc)))
    overlay = RolloutOverlay.build(settings, doc, admitted_through=2)
    rig.converge(desired(overlay))
    moved = [d for d in fleet if rig.holders(d) != prior[d]]
    assert moved  # waves 1 and 2 did move some devices
    for device, device_facts in fleet.items():
        assert rig.holders(device) == overlay.holders(device, device_facts)
    rig.converge(desired(overlay.rolled_back()))
    for device in fleet:
        assert rig.holders(device) == prior[device]
    # Never both sides at once; and, once the rollback has settled, exactly one.
    assert check(rig.events) == []
    assert check(rig.events, steady_from=rig.now) == []
