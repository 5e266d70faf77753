"""A rollout document, its plan hash and the status reports a connector sends for it."""

from __future__ import annotations

import uuid

from cloud.contract.rollouts import RolloutStatusReport
from workloads.rollout import parse_desired_state_toml

DOCUMENT = parse_desired_state_toml(
    """
version = 1
[workloads.compliance]
slider = "cloud"
[rollout]
name = "compliance-to-cloud"
[[rollout.waves]]
percent = 20
soak = "1h"
"""
).to_dict()


PLAN_HASH = "ab" * 32


def status(phase: str = "soaking", stage: int = 1) -> RolloutStatusReport:
    """A rollout status as the connector reports it (`cobridge workloads status --json`)."""
    return RolloutStatusReport.model_validate(
        {
            "rolloutId": str(uuid.uuid4()),
            "name": "compliance-to-cloud",
            "active": phase not in ("completed", "rolled_back", "aborted"),
            "phase": phase,
            "stage": stage,
            "finalStage": 2,
            "summary": f"{phase} stage {stage} of 2",
            "reason": None,
            "soakUntil": "2026-11-01T10:00:00+00:00",
            "planHash": PLAN_HASH,
            "createdBy": "api:ops",
            "createdAt": "2026-11-01T09:00:00+00:00",
            "updatedAt": "2026-11-01T09:05:00+00:00",
            "workloads": ["compliancePolicy"],
            "stages": [
                {"stage": 1, "label": "wave 1 (20%)", "soak": "soak 1h", "status": phase},
                {
                    "stage": 2,
                    "label": "final (the rest)",
                    "soak": "no soak",
                    "status": "not started",
                },
            ],
            "health": {"touched": 4, "unsettled": 0, "stalled": 0, "failed": 0, "conflicts": 0},
            "gates": {
                "max_failed_percent": 5.0,
                "max_stalled_percent": 5.0,
                "max_conflicts": 0,
                "min_compliance_percent": None,
                "on_trip": "pause",
            },
            "history": [
                {
                    "seq": 7,
                    "at": "2026-11-01T09:00:00+00:00",
                    "actor": "api:ops",
                    "action": "rollout.started",
                    "details": {"stage": 1},
                }
            ],
        }
    )
