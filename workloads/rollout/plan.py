"""The plan of a desired-state document over a fleet: who changes holder, in which stage.

`Planner` reads devices one at a time (a site may stream 700k) and keeps
counters and bounded samples only. For each co-managed device it computes the
holders under the site's current settings (*prior*) and under the target
settings, both with `workloads.authority.desired_holders`; every workload
whose holder differs is a *move* in the device's stage (`selection.py`).

- A move of a dependant (Resource access, Endpoint Protection) that the
  workload's own slider does not explain is *carried* along by its carrier
  (Device configuration; the dependency rule) and counted apart.
- `current` holders (the arbiter's records), when given, are compared with
  the prior ones only: a difference is a handoff the arbiter makes anyway,
  outside the rollout (`outside_rollout`), and does not enter the plan hash,
  so a plan is not invalidated by handoffs settling between plan and apply.
- `plan_hash` is sha256 of a canonical JSON of the document, the site's
  settings, and an order-independent digest of every device's moves (the sum
  modulo 2**256 of one sha256 per device), so `apply` can recompute it and
  refuse a plan that no longer matches the fleet.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from workloads.authority import DeviceFacts, desired_holders, is_co_managed
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.rollout.document import DesiredState
from workloads.rollout.plan_result import (
    Plan,
    SampleDevice,
    StageChanges,
    StageSummary,
    WorkloadPlan,
)
from workloads.rollout.selection import WaveSelector
from workloads.settings import CoManagementSettings, Slider

CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD
# The workloads a carrier moves along (the catalog's dependency rule).
DEPENDANTS = frozenset(w for w in ALL_WORKLOADS if w.carrier is not None)
DEFAULT_SAMPLE = 5
_MODULUS = 1 << 256
# Each move's part of a device's digest text: "compliancePolicy:configmgr>cloud;".
_MOVE_TEXT = {
    (w, before, before.other): f"{w.value}:{before.value}>{before.other.value};"
    for w in ALL_WORKLOADS
    for before in Holder
}
# Counter slots per (workload, stage).
TO_CLOUD, TO_SITE, CARRIED_TO_CLOUD, CARRIED_TO_SITE = range(4)


@dataclass(frozen=True, slots=True)
class PlanDevice:
    """One device as the planner needs it.

    `current` is the arbiter's holder per workload (a workload missing from
    it is held by the site, as a record never handed off); None when unknown.
    """

    smsid: str
    facts: DeviceFacts
    name: str | None = None
    current: Mapping[Workload, Holder] | None = None


# (-point, smsid, arrival): unique and totally ordered; then the sample's payload.
_Entry = tuple[int, str, int, SampleDevice]


@dataclass(slots=True)
class _Stage:
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    # Per counter slot, a bounded heap whose top is the highest point: the lowest survive.
    samples: tuple[list[_Entry], ...] = field(default_factory=lambda: ([], [], [], []))


class Planner:
    """Streams devices into a `Plan` of `document` over a site with `settings`."""

    def __init__(
        self,
        settings: CoManagementSettings,
        document: DesiredState,
        *,
        sample_size: int = DEFAULT_SAMPLE,
    ) -> None:
        self.settings = settings
        self.document = document
        self.target = document.target_settings(settings)
        self.changed = frozenset(document.changed_workloads(settings))
        self.selector = WaveSelector(document.waves, document.salt)
        self.sample_size = max(0, sample_size)
        self._stages: dict[tuple[Workload, int], _Stage] = {}
        self._stage_devices = [0] * (self.selector.final_stage + 1)
        self._digest = 0
        self._devices = self._co_managed = self._outside = 0
        self._finished = False

    def add_all(self, devices: Iterable[PlanDevice]) -> None:
        """Read every device of `devices` (any iterable, read once)."""
        for device in devices:
            self.add(device)

    def add(self, device: PlanDevice) -> None:
        """Count one device's moves."""
        if self._finished:
            raise RuntimeError("the plan is finished; start a new Planner")
        self._devices += 1
        facts = device.facts
        if not (self.settings.enabled and is_co_managed(facts)):
            # Every workload is the site's under both settings.
            if device.current is not None:
                self._outside += sum(h is CLOUD for h in device.current.values())
            return
        self._co_managed += 1
        prior = desired_holders(self.settings, facts)
        if device.current is not None:
            self._outside += sum(device.current.get(w, CM) is not prior[w] for w in ALL_WORKLOADS)
        if not self.changed:
            return
        after = desired_holders(self.target, facts)
        moves = [(w, prior[w], after[w]) for w in ALL_WORKLOADS if prior[w] is not after[w]]
        if not moves:
            return
        point = self.selector.point(device.smsid)
        stage = self.selector.wave_of_point(point, facts.collection_ids)
        self._stage_devices[stage] += 1
        for workload, before, now in moves:
            carried = workload in DEPENDANTS and (
                workload not in self.changed or now is not self._own_holder(workload, facts)
            )
            self._count(workload, stage, before, now, carried, point, device)
        line = "".join([_MOVE_TEXT[move] for move in moves])
        text = f"{device.smsid.strip().upper()}|{stage}|{line}"
        digest = hashlib.sha256(text.encode()).digest()
        self._digest = (self._digest + int.from_bytes(digest, "big")) % _MODULUS

    def _own_holder(self, workload: Workload, facts: DeviceFacts) -> Holder:
        # The workload's own slider for a co-managed device, before the dependency rule.
        setting = self.target.setting(workload)
        if setting.slider is Slider.CLOUD or (
            setting.slider is Slider.PILOT and setting.pilot_collection in facts.collection_ids
        ):
            return CLOUD
        return CM

    def _count(
        self,
        workload: Workload,
        stage: int,
        before: Holder,
        after: Holder,
        carried: bool,
        point: int,
        device: PlanDevice,
    ) -> None:
        state = self._stages.get((workload, stage))
        if state is None:
            state = self._stages[(workload, stage)] = _Stage()
        slot = (
            (CARRIED_TO_CLOUD if carried else TO_CLOUD)
            if after is CLOUD
            else (CARRIED_TO_SITE if carried else TO_SITE)
        )
        state.counts[slot] += 1
        if not self.sample_size:
            return
        heap = state.samples[slot]
        entry = (
            -point,
            device.smsid,
            -self._devices,
            SampleDevice(device.smsid, device.name, before, after, carried),
        )
        if len(heap) < self.sample_size:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)

    def finish(self) -> Plan:
        """The plan of every device read."""
        self._finished = True
        plans = [
            self._workload_plan(w)
            for w in ALL_WORKLOADS
            if w in self.document.workloads or any(k[0] is w for k in self._stages)
        ]
        # Workloads that only follow their carrier are listed right after it.
        followers = [p for p in plans if p.workload in DEPENDANTS and not p.in_document]
        ordered: list[WorkloadPlan] = []

        def place(workload_plan: WorkloadPlan) -> None:
            ordered.append(workload_plan)
            for follower in followers:
                if follower.workload.carrier is workload_plan.workload:
                    place(follower)

        for workload_plan in plans:
            if workload_plan not in followers:
                place(workload_plan)
        workloads = tuple(ordered if len(ordered) == len(plans) else plans)
        stages = tuple(
            StageSummary(
                stage=stage,
                label=self.document.stage_label(stage),
                soak_seconds=self.document.soak_seconds(stage),
                devices=self._stage_devices[stage],
                moves=sum(sum(s.counts) for (_, n), s in self._stages.items() if n == stage),
            )
            for stage in range(1, self.selector.final_stage + 1)
        )
        moves = sum(stage.moves for stage in stages)
        return Plan(
            document=self.document,
            settings=self.settings,
            plan_hash=self._hash(moves),
            devices=self._devices,
            co_managed=self._co_managed,
            outside_rollout=self._outside,
            workloads=workloads,
            stages=stages,
        )

    def _workload_plan(self, workload: Workload) -> WorkloadPlan:
        stages = []
        for stage in range(1, self.selector.final_stage + 1):
            state = self._stages.get((workload, stage))
            if state is None:
                continue
            stages.append(
                StageChanges(
                    stage=stage,
                    label=self.document.stage_label(stage),
                    to_cloud=state.counts[TO_CLOUD],
                    to_site=state.counts[TO_SITE],
                    carried_to_cloud=state.counts[CARRIED_TO_CLOUD],
                    carried_to_site=state.counts[CARRIED_TO_SITE],
                    sample=tuple(d for heap in state.samples for d in _sample(heap)),
                )
            )
        moved = sum(stage.moves for stage in stages)
        return WorkloadPlan(
            workload=workload,
            prior=self.settings.setting(workload),
            target=self.target.setting(workload),
            in_document=workload in self.document.workloads,
            stages=tuple(stages),
            unchanged=self._devices - moved,
        )

    def _hash(self, moves: int) -> str:
        canonical = {
            "document": self.document.to_dict(),
            "settings": self.settings.model_dump(mode="json"),
            "changes": f"{self._digest:064x}",
            "moves": moves,
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _sample(heap: list[_Entry]) -> tuple[SampleDevice, ...]:
    return tuple(entry[3] for entry in sorted(heap, reverse=True))


def plan_rollout(
    settings: CoManagementSettings,
    document: DesiredState,
    devices: Iterable[PlanDevice],
    *,
    sample_size: int = DEFAULT_SAMPLE,
) -> Plan:
    """The plan of `document` over `devices` (streamed) at a site with `settings`."""
    planner = Planner(settings, document, sample_size=sample_size)
    planner.add_all(devices)
    return planner.finish()
