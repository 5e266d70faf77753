"""How a rollout in progress changes the desired holders.

While a rollout runs, the site's sliders stay where they were (the *prior*
settings) and the rollout admits devices wave by wave: an admitted device is
held as the *target* settings (the prior ones with the document's workloads
set) would have it, every other device as the prior settings have it. Both
are computed by `workloads.authority.desired_holders` itself, so the
dependency rule holds exactly as everywhere else: a wave that moves Device
configuration to the cloud carries Resource access and Endpoint Protection
along for the devices of that wave, and only for them.

Admission is one number, `admitted_through`: 0 admits nobody (before the
first wave, and after a rollback or an abort: every device is back with its
prior holder), `k` admits waves 1..k, the final stage admits every device
(and then the holders are those of the target settings, so writing the
target sliders to the site changes no holder).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from workloads.authority import DeviceFacts, desired_holders
from workloads.catalog import Holder, Workload
from workloads.rollout.document import DesiredState
from workloads.rollout.selection import WaveSelector
from workloads.settings import CoManagementSettings, WorkloadSetting


@dataclass(frozen=True, slots=True)
class RolloutOverlay:
    """The prior and target settings, the wave selector, and how far admission has gone."""

    prior: CoManagementSettings
    target: CoManagementSettings
    selector: WaveSelector
    admitted_through: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.admitted_through <= self.selector.final_stage:
            raise ValueError(
                f"admitted_through must be from 0 to {self.selector.final_stage}, "
                f"got {self.admitted_through}"
            )

    @classmethod
    def build(
        cls, settings: CoManagementSettings, document: DesiredState, admitted_through: int = 0
    ) -> RolloutOverlay:
        """The overlay of `document` over the site's current `settings`, admitting through a stage."""
        return cls(
            prior=settings,
            target=document.target_settings(settings),
            selector=WaveSelector(document.waves, document.salt),
            admitted_through=admitted_through,
        )

    @property
    def targets(self) -> dict[Workload, WorkloadSetting]:
        """Per workload the rollout changes: the setting admitted devices are held by."""
        return {
            workload: setting
            for workload, setting in self.target.workloads.items()
            if setting != self.prior.setting(workload)
        }

    @property
    def admits_everyone(self) -> bool:
        """Whether the final stage is admitted (holders are the target settings' for all)."""
        return self.admitted_through >= self.selector.final_stage

    def with_admitted(self, through: int) -> RolloutOverlay:
        """The same rollout admitting through stage `through` (0: nobody)."""
        return replace(self, admitted_through=through)

    def rolled_back(self) -> RolloutOverlay:
        """The same rollout admitting nobody: every device returns to its prior holder."""
        return self.with_admitted(0)

    def stage_of(self, smsid: str, facts: DeviceFacts) -> int:
        """The device's stage: its wave (from 1), or the final stage."""
        return self.selector.wave_of(smsid, facts.collection_ids)

    def admits(self, smsid: str, facts: DeviceFacts) -> bool:
        """Whether the device is admitted: its stage is at most `admitted_through`."""
        return self.selector.admitted(smsid, facts.collection_ids, self.admitted_through)

    def settings_for(self, smsid: str, facts: DeviceFacts) -> CoManagementSettings:
        """The settings the device is held by now: the target if admitted, else the prior."""
        return self.target if self.admits(smsid, facts) else self.prior

    def holders(
        self,
        smsid: str,
        facts: DeviceFacts,
        prior_holders: Mapping[Workload, Holder] | None = None,
    ) -> dict[Workload, Holder]:
        """The device's holders during the rollout (see `holders_during_rollout`)."""
        return holders_during_rollout(self, smsid, facts, prior_holders)


def holders_during_rollout(
    overlay: RolloutOverlay,
    smsid: str,
    facts: DeviceFacts,
    prior_holders: Mapping[Workload, Holder] | None = None,
) -> dict[Workload, Holder]:
    """The side that should hold each workload of this device while the rollout runs.

    `prior_holders` are the device's holders under the prior settings
    (`desired_holders(overlay.prior, facts)`), when the caller has them
    already: a device the rollout does not admit keeps them unchanged. An
    admitted device's holders are recomputed from its facts under the target
    settings (the prior holders alone cannot say where Endpoint Protection
    returns when Device configuration leaves the cloud).
    """
    if overlay.admits(smsid, facts):
        return desired_holders(overlay.target, facts)
    if prior_holders is not None:
        return dict(prior_holders)
    return desired_holders(overlay.prior, facts)
