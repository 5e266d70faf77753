"""The pure co-management parts wired together under faults, checked at every step.

An in-memory rig: an arbiter whose journal of authority records survives a
crash (its outbox does not; after a restart it re-sends from the journal), the
two sides' gates, and message queues between them where messages are lost,
duplicated, reordered and delayed, and a side can be unreachable. Sliders,
pilot membership, enrollment and co-management itself change under it, and
devices check in to either side and receive what that side's gate allows.
Every gate change and delivery goes to an event log that the invariant checker
reads as it grows. When faults stop (teardown), the network is drained and
every record must be held by its desired holder, with the log still clean.

`HandoffRig` never forces; `ForcedHandoffRig` may force a handoff stalled on
an unreachable side, and then both sides may hold only while that record's
fence is pending.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from workloads.authority import DeviceFacts, desired_holder, desired_holders
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.gate import GateRecord, SideGate, Verdict
from workloads.handoff import (
    AuthorityRecord,
    Phase,
    Transition,
    begin,
    force,
    initial_record,
    journal_behind,
    on_reply,
    resend,
)
from workloads.invariant import (
    DeliveryEvent,
    Event,
    GrantEvent,
    InvariantChecker,
    RevokeEvent,
    Violation,
    ViolationKind,
)
from workloads.messages import Command, Grant, Key, Reply, Stale
from workloads.settings import (
    AutoEnrollment,
    CoManagementSettings,
    EnrollmentScope,
    Slider,
    WorkloadSetting,
)

CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD
DEVICES = ("D1", "D2", "D3")
COLLECTIONS = ("PS100010", "PS100011")
KEYS: tuple[Key, ...] = tuple((device, w) for device in DEVICES for w in ALL_WORKLOADS)
T0 = datetime(2025, 3, 1, tzinfo=UTC)
ARBITER = "arbiter"

devices = st.sampled_from(DEVICES)
sides = st.sampled_from([CM, CLOUD])
queues = st.sampled_from([CM, CLOUD, ARBITER])
picks = st.integers(min_value=0, max_value=1_000)


def facts(enrolled: bool, *collections: str) -> DeviceFacts:
    return DeviceFacts(
        agent_present=True,
        mdm_enrolled=enrolled,
        comgmt_policy_present=True,
        entra_joined=True,
        os_name="Microsoft Windows NT Workstation 10.0",
        os_build="10.0.22631",
        collection_ids=frozenset(collections),
    )


class HandoffRig(RuleBasedStateMachine):
    """Arbiter, journal, two gates and a faulty network; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        # Some sliders already point at the cloud, so that handoffs start at once.
        self.settings = CoManagementSettings(
            enabled=True,
            workloads={
                Workload.COMPLIANCE: WorkloadSetting(slider=Slider.CLOUD),
                Workload.DEVICE_CONFIGURATION: WorkloadSetting(
                    slider=Slider.PILOT, pilot_collection=COLLECTIONS[0]
                ),
                Workload.CLIENT_APPS: WorkloadSetting(
                    slider=Slider.PILOT, pilot_collection=COLLECTIONS[1]
                ),
            },
        )
        self.facts = {
            "D1": facts(True, COLLECTIONS[0]),
            "D2": facts(True, COLLECTIONS[1]),
            "D3": facts(False, *COLLECTIONS),
        }
        # Durable: survives a crash.
        self.journal: dict[Key, AuthorityRecord] = {key: initial_record(*key) for key in KEYS}
        # In memory: lost on a crash.
        self.outbox: list[Command] = []
        self.running = True
        self.gates = {CM: SideGate(CM), CLOUD: SideGate(CLOUD)}
        self.reachable = {CM: True, CLOUD: True}
        # Commands to each side, replies to the arbiter.
        self.queues: dict[str, list[Any]] = {CM: [], CLOUD: [], ARBITER: []}
        # Messages held back by the network, each to be released into its queue later.
        self.delayed: list[tuple[str, Command | Reply]] = []
        self.clock = 0
        self.log: list[Event] = []
        self.checker = InvariantChecker()
        self.epochs = dict.fromkeys(KEYS, 0)

    # Helpers

    def now(self) -> datetime:
        self.clock += 1
        return T0 + timedelta(seconds=self.clock)

    def record_event(self, event: Event) -> None:
        self.log.append(event)
        self.judge(self.checker.feed(event))

    def judge(self, violations: list[Violation]) -> None:
        assert violations == [], "\n".join(map(str, violations))

    def both_hold(self, key: Key) -> bool:
        return self.gates[CM].holds(*key) and self.gates[CLOUD].holds(*key)

    def desired(self, key: Key) -> Holder:
        device, workload = key
        return desired_holder(self.settings, self.facts[device], workload)

    def apply(self, transition: Transition) -> None:
        # Write-ahead: the journal first, then the commands.
        if transition.changed:
            self.journal[transition.record.key] = transition.record
        self.outbox.extend(transition.send)

    def pick(self, queue: str, index: int) -> Command | Reply:
        messages = self.queues[queue]
        return messages.pop(index % len(messages))

    def has_mail(self, queue: str) -> bool:
        return bool(self.queues[queue])

    # Site settings and device facts

    @rule(
        workload=st.sampled_from(ALL_WORKLOADS),
        slider=st.sampled_from(Slider),
        collection=st.sampled_from(COLLECTIONS),
    )
    def move_slider(self, workload: Workload, slider: Slider, collection: str) -> None:
        setting = WorkloadSetting(slider=slider, pilot_collection=collection)
        self.settings = self.settings.with_workload(workload, setting)

    @rule(device=devices, collection=st.sampled_from(COLLECTIONS))
    def toggle_pilot_membership(self, device: str, collection: str) -> None:
        current = self.facts[device]
        self.facts[device] = current.model_copy(
            update={"collection_ids": current.collection_ids ^ {collection}}
        )

    @rule(device=devices, enrolled=st.booleans(), policy=st.booleans())
    def change_enrollment(self, device: str, enrolled: bool, policy: bool) -> None:
        self.facts[device] = self.facts[device].model_copy(
            update={"mdm_enrolled": enrolled, "comgmt_policy_present": policy}
        )

    @rule(enabled=st.booleans())
    def switch_co_management(self, enabled: bool) -> None:
        self.settings = self.settings.with_enabled(enabled)

    @rule(scope=st.sampled_from(EnrollmentScope), collection=st.sampled_from(COLLECTIONS))
    def change_auto_enrollment_scope(self, scope: EnrollmentScope, collection: str) -> None:
        before = {d: desired_holders(self.settings, self.facts[d]) for d in DEVICES}
        self.settings = self.settings.with_auto_enrollment(
            AutoEnrollment(scope=scope, collection=collection)
        )
        # The scope decides who enrolls next, not who holds what now.
        assert before == {d: desired_holders(self.settings, self.facts[d]) for d in DEVICES}

    # The arbiter

    @precondition(lambda self: self.running)
    @rule(device=devices)
    def reconcile(self, device: str) -> None:
        for workload in ALL_WORKLOADS:
            key = (device, workload)
            self.apply(begin(self.journal[key], self.desired(key)))

    @precondition(lambda self: self.running and bool(self.outbox))
    @rule(count=st.integers(min_value=1, max_value=8))
    def send_outbox(self, count: int) -> None:
        sending, self.outbox = self.outbox[:count], self.outbox[count:]
        for command in sending:
            self.queues[command.side].append(command)

    @precondition(lambda self: self.running and bool(self.queues[ARBITER]))
    @rule(index=picks, count=st.integers(min_value=1, max_value=4))
    def arbiter_receives(self, index: int, count: int = 1) -> None:
        for _ in range(count):
            if not self.queues[ARBITER]:
                return
            reply = self.pick(ARBITER, index)
            record = self.journal[reply.key]
            if isinstance(reply, Stale):
                assert not journal_behind(record, reply), (record, reply)
            self.apply(on_reply(record, reply))

    @precondition(lambda self: self.running)
    @rule()
    def crash(self) -> None:
        self.running = False
        self.outbox.clear()

    @precondition(lambda self: not self.running)
    @rule()
    def restart(self) -> None:
        self.running = True
        for record in self.journal.values():
            self.outbox.extend(resend(record))

    @precondition(lambda self: self.running)
    @rule()
    def timeout_resends(self) -> None:
        for record in self.journal.values():
            self.outbox.extend(resend(record))

    # The sides and the network

    @rule(side=sides, index=picks, count=st.integers(min_value=1, max_value=4))
    def side_receives(self, side: Holder, index: int, count: int = 1) -> None:
        for _ in range(count):
            if not (self.reachable[side] and self.has_mail(side)):
                return
            command = self.pick(side, index)
            decision = self.gates[side].handle(command)
            if decision.verdict is Verdict.APPLIED:
                kind = GrantEvent if isinstance(command, Grant) else RevokeEvent
                self.record_event(
                    kind(side, command.device, command.workload, command.epoch, self.now())
                )
            self.queues[ARBITER].append(decision.reply)

    @rule(queue=queues, index=picks)
    def lose_message(self, queue: str, index: int) -> None:
        if self.has_mail(queue):
            self.pick(queue, index)

    @rule(queue=queues, index=picks, position=picks)
    def duplicate_message(self, queue: str, index: int, position: int) -> None:
        messages = self.queues[queue]
        if messages:
            copy = messages[index % len(messages)]
            messages.insert(position % (len(messages) + 1), copy)

    @rule(queue=queues, index=picks)
    def delay_message(self, queue: str, index: int) -> None:
        if self.has_mail(queue):
            self.delayed.append((queue, self.pick(queue, index)))

    @precondition(lambda self: bool(self.delayed))
    @rule(index=picks)
    def release_delayed_message(self, index: int) -> None:
        queue, message = self.delayed.pop(index % len(self.delayed))
        self.queues[queue].insert(0, message)

    @rule(side=sides, reachable=st.booleans())
    def set_reachable(self, side: Holder, reachable: bool) -> None:
        self.reachable[side] = reachable

    @rule(index=picks, count=st.integers(min_value=1, max_value=30))
    def network_round(self, index: int, count: int) -> None:
        # A coarse step (reconcile, send, deliver, answer) so that handoffs progress
        # in every run, whichever finer rules the run happens to enable.
        if self.running:
            for device in DEVICES:
                self.reconcile(device)
            self.send_outbox(len(self.outbox))
        for side in (CM, CLOUD):
            self.side_receives(side, index, count)
        if self.running:
            self.arbiter_receives(index, count)

    # Devices: each side hands a device only what its gate allows, reachable or not.

    @rule(device=devices, side=sides)
    def device_checks_in(self, device: str, side: Holder) -> None:
        at = self.now()
        for workload in ALL_WORKLOADS:
            epoch = self.gates[side].grant_epoch(device, workload)
            if epoch is not None:
                self.record_event(DeliveryEvent(side, device, workload, epoch, at))

    # Invariants at every step

    @invariant()
    def never_both_sides_hold(self) -> None:
        for key in KEYS:
            assert not self.both_hold(key), (key, self.journal[key])

    @invariant()
    def gates_agree_with_unfenced_records(self) -> None:
        for key, record in self.journal.items():
            if record.fence is not None:
                continue
            if record.phase is Phase.HELD:
                assert record.holder is not None
                assert self.gates[record.holder].record(*key) == GateRecord(record.epoch, True)
                assert not self.gates[record.holder.other].holds(*key)
            elif record.phase is Phase.GRANTING:
                # No grant before the revoke's acknowledgement: the other side is silent.
                assert not self.gates[record.destination.other].holds(*key), record

    @invariant()
    def epochs_never_go_back(self) -> None:
        for key, record in self.journal.items():
            assert record.epoch >= self.epochs[key]
            self.epochs[key] = record.epoch

    # Faults stop

    def teardown(self) -> None:
        if sys.exc_info()[0] is not None:
            return  # a step already failed; let that failure be the one reported
        self.reachable = {CM: True, CLOUD: True}
        if not self.running:
            self.restart()
        self.drain()
        for key, record in self.journal.items():
            assert record.phase is Phase.HELD, record
            assert record.holder is self.desired(key), (record, self.desired(key))
            assert record.fence is None, record
            assert self.gates[record.holder].holds(*key)
            assert not self.gates[record.holder.other].holds(*key)
        for device in DEVICES:
            for side in (CM, CLOUD):
                self.device_checks_in(device, side)
        # The whole log again, now with steady state from the end of the drain on.
        replay = InvariantChecker(steady_from=T0 + timedelta(seconds=self.clock))
        for event in self.log:
            replay.feed(event)
        found = self.unexplained_after_faults_stop(replay.finish())
        assert found == [], "\n".join(map(str, found))

    def unexplained_after_faults_stop(self, violations: list[Violation]) -> list[Violation]:
        return violations

    def drain(self) -> None:
        while self.delayed:
            self.release_delayed_message(0)
        for _ in range(10):
            for device in DEVICES:
                self.reconcile(device)
            self.timeout_resends()
            while self.outbox or any(self.queues.values()):
                self.send_outbox(len(self.outbox) or 1)
                for side in (CM, CLOUD):
                    while self.queues[side]:
                        self.side_receives(side, 0)
                while self.queues[ARBITER]:
                    self.arbiter_receives(0)
            if all(
                r.phase is Phase.HELD and r.holder is self.desired(k) and r.fence is None
                for k, r in self.journal.items()
            ):
                return


class ForcedHandoffRig(HandoffRig):
    """The same rig where an admin may force a handoff stalled on an unreachable side."""

    def judge(self, violations: list[Violation]) -> None:
        unexplained = [v for v in violations if not self.explained_by_a_force(v)]
        assert unexplained == [], "\n".join(map(str, unexplained))

    def explained_by_a_force(self, violation: Violation) -> bool:
        # Force accepts one risk: the silent side may still hold and deliver while
        # its fence is pending. Anything else is a bug.
        record = self.journal[(violation.device, violation.workload)]
        return (
            violation.kind in (ViolationKind.BOTH_GRANTED, ViolationKind.BOTH_DELIVERING)
            and record.fence is not None
        )

    def unexplained_after_faults_stop(self, violations: list[Violation]) -> list[Violation]:
        # Overlaps under a pending fence were judged when they happened (see `judge`).
        return [
            v
            for v in violations
            if v.kind not in (ViolationKind.BOTH_GRANTED, ViolationKind.BOTH_DELIVERING)
        ]

    @precondition(lambda self: self.running)
    @rule(index=picks)
    def force_a_stalled_handoff(self, index: int) -> None:
        stalled = [
            r
            for r in self.journal.values()
            if r.phase is Phase.REVOKING and not self.reachable[r.holder]
        ]
        if not stalled:
            return
        step = force(stalled[index % len(stalled)], "side unreachable; forced in a test")
        assert step.forced is not None
        self.apply(step)

    @invariant()
    def never_both_sides_hold(self) -> None:
        for key in KEYS:
            if self.both_hold(key):
                assert self.journal[key].fence is not None, (key, self.journal[key])


RIG_SETTINGS = settings(
    max_examples=150,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestHandoffRig = HandoffRig.TestCase
TestHandoffRig.settings = RIG_SETTINGS
TestForcedHandoffRig = ForcedHandoffRig.TestCase
TestForcedHandoffRig.settings = RIG_SETTINGS
