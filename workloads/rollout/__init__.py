"""Automated workload switching, the pure part: desired state, waves, plan, rollout state.

- `document`, `parse`: the desired-state document (target sliders, a rollout
  of waves with soak times and health gates), from TOML or JSON data, with
  errors that name the key path and the fix; `EXAMPLE_DESIRED_STATE`.
- `selection`: the stable hash that puts each device in its wave.
- `overlay`: the desired holders while a rollout runs (admitted devices held
  as the target settings have them; the dependency rule kept).
- `plan`, `plan_result`, `render`: the streamed plan (moves per workload and
  stage, samples, dependency effects, plan hash) and its text and JSON forms.
- `gates`, `events`, `state`, `machine`: health gates and the rollout state
  machine (time passed in, audit events out).
"""

from workloads.rollout.document import (
    DesiredState,
    GateAction,
    HealthGates,
    Rollout,
    Wave,
    WorkloadTarget,
)
from workloads.rollout.errors import DesiredStateError, RolloutRefused
from workloads.rollout.events import (
    Abort,
    Pause,
    Resume,
    Rollback,
    RollbackApplied,
    RolloutEvent,
    StageApplied,
    Start,
    Tick,
)
from workloads.rollout.gates import GateResult, HealthSample, evaluate_gates
from workloads.rollout.machine import RolloutStep, advance, describe_state
from workloads.rollout.overlay import RolloutOverlay, holders_during_rollout
from workloads.rollout.parse import (
    EXAMPLE_DESIRED_STATE,
    parse_desired_state,
    parse_desired_state_toml,
)
from workloads.rollout.plan import PlanDevice, Planner, plan_rollout
from workloads.rollout.plan_result import Plan
from workloads.rollout.render import plan_to_dict, render_plan_text
from workloads.rollout.selection import WaveSelector, device_bucket
from workloads.rollout.state import RolloutPhase, RolloutState, new_rollout_state

__all__ = [
    "EXAMPLE_DESIRED_STATE",
    "Abort",
    "DesiredState",
    "DesiredStateError",
    "GateAction",
    "GateResult",
    "HealthGates",
    "HealthSample",
    "Pause",
    "Plan",
    "PlanDevice",
    "Planner",
    "Resume",
    "Rollback",
    "RollbackApplied",
    "Rollout",
    "RolloutEvent",
    "RolloutOverlay",
    "RolloutPhase",
    "RolloutRefused",
    "RolloutState",
    "RolloutStep",
    "StageApplied",
    "Start",
    "Tick",
    "Wave",
    "WaveSelector",
    "WorkloadTarget",
    "advance",
    "describe_state",
    "device_bucket",
    "evaluate_gates",
    "holders_during_rollout",
    "new_rollout_state",
    "parse_desired_state",
    "parse_desired_state_toml",
    "plan_rollout",
    "plan_to_dict",
    "render_plan_text",
]
