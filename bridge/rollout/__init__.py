"""Rollouts in the connector: plan a desired-state document over the site, apply it, run it.

`site_plan` makes the plan from the site's settings and one streaming read;
`engine` starts a reviewed plan, takes operators' commands and persists each
step with its audit entries; `driver` is the rollout's part of every
arbitration pass (the overlay before, the signals after). The decisions are
the pure `workloads.rollout`'s.
"""

from bridge.rollout.driver import RolloutDriver
from bridge.rollout.engine import (
    ActiveRollout,
    NoRollout,
    NothingToApply,
    PlanChanged,
    RolloutEngine,
)
from bridge.rollout.site_plan import SiteReadIncomplete, plan_site

__all__ = [
    "ActiveRollout",
    "NoRollout",
    "NothingToApply",
    "PlanChanged",
    "RolloutDriver",
    "RolloutEngine",
    "SiteReadIncomplete",
    "plan_site",
]
