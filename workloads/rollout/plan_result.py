"""What a plan says: per workload and stage the moves, samples, and the totals.

Plain frozen dataclasses built by `plan.Planner`; `render.py` prints them as
text and as JSON-able data.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.catalog import Holder, Workload
from workloads.rollout.document import DesiredState
from workloads.settings import CoManagementSettings, WorkloadSetting


@dataclass(frozen=True, slots=True)
class SampleDevice:
    """One device of a sample: its id, name, and the move."""

    smsid: str
    name: str | None
    before: Holder
    after: Holder
    carried: bool = False


@dataclass(frozen=True, slots=True)
class StageChanges:
    """One workload's moves in one stage: direct ones and those its carrier carried along.

    `sample` holds, for each of the four counts, its first devices by stable
    hash point (at most the planner's sample size each), in the order
    to cloud, to site, carried to cloud, carried to site.
    """

    stage: int
    label: str
    to_cloud: int
    to_site: int
    carried_to_cloud: int
    carried_to_site: int
    sample: tuple[SampleDevice, ...]

    @property
    def moves(self) -> int:
        """Every move of this workload in this stage."""
        return self.to_cloud + self.to_site + self.carried_to_cloud + self.carried_to_site


@dataclass(frozen=True, slots=True)
class WorkloadPlan:
    """One workload: its setting before and after, its moves per stage, the devices unchanged."""

    workload: Workload
    prior: WorkloadSetting
    target: WorkloadSetting
    in_document: bool
    stages: tuple[StageChanges, ...]  # only stages with moves, in order
    unchanged: int

    @property
    def setting_changes(self) -> bool:
        """Whether the document moves this workload's slider or pilot collection."""
        return self.prior != self.target

    @property
    def moves(self) -> int:
        """Every move of this workload."""
        return sum(stage.moves for stage in self.stages)

    @property
    def carried(self) -> int:
        """The moves carried along by the workload's carrier (Device configuration)."""
        return sum(s.carried_to_cloud + s.carried_to_site for s in self.stages)

    def stage(self, stage: int) -> StageChanges | None:
        """The moves of one stage, or None when it has none."""
        return next((s for s in self.stages if s.stage == stage), None)


@dataclass(frozen=True, slots=True)
class StageSummary:
    """One stage of the rollout: its devices that move at least one workload, and its moves."""

    stage: int
    label: str
    soak_seconds: int
    devices: int
    moves: int


@dataclass(frozen=True, slots=True)
class Plan:
    """The whole plan; `plan_hash` identifies it for `apply`."""

    document: DesiredState
    settings: CoManagementSettings
    plan_hash: str
    devices: int
    co_managed: int
    outside_rollout: int  # (device, workload) holders the arbiter moves anyway
    workloads: tuple[WorkloadPlan, ...]
    stages: tuple[StageSummary, ...]  # every stage, 1 .. final

    @property
    def moves(self) -> int:
        """Every (device, workload) that changes holder."""
        return sum(stage.moves for stage in self.stages)

    @property
    def devices_changing(self) -> int:
        """Devices that change the holder of at least one workload."""
        return sum(stage.devices for stage in self.stages)

    @property
    def settings_change(self) -> bool:
        """Whether the document changes any slider or pilot collection of the site."""
        return any(w.setting_changes for w in self.workloads)

    @property
    def has_changes(self) -> bool:
        """Whether applying would change anything: a holder, or a site setting."""
        return self.moves > 0 or self.settings_change

    def totals(self) -> dict[str, int]:
        """Moves by direction, and those carried along by a carrier (Device configuration)."""
        stages = [s for w in self.workloads for s in w.stages]
        return {
            "moves": self.moves,
            "to_cloud": sum(s.to_cloud + s.carried_to_cloud for s in stages),
            "to_site": sum(s.to_site + s.carried_to_site for s in stages),
            "carried": sum(s.carried_to_cloud + s.carried_to_site for s in stages),
        }

    def workload(self, workload: Workload) -> WorkloadPlan | None:
        """The plan of one workload, or None when it neither changes nor moves."""
        return next((w for w in self.workloads if w.workload is workload), None)
