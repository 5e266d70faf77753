"""A rollout's persisted state: its phase, its stage, and what it waits for.

Phases:

| phase | stage | admitted (`admitted_through`) |
| --- | --- | --- |
| pending | 0 | nobody |
| applying | k: stage k's handoffs run | stages 1..k |
| soaking | k, until `soak_until` | stages 1..k |
| paused | k; `paused_from` applying or soaking (`soak_left_seconds`) | stages 1..k |
| rolling_back | the stage reached | nobody (devices returning to their prior holder) |
| rolled_back, aborted | the stage reached (0 if aborted before it started) | nobody |
| completed | the final stage | everyone (the target settings) |

`to_dict` / `from_dict` give the engine a JSON-able form to persist.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class RolloutPhase(StrEnum):
    """Where a rollout stands."""

    PENDING = "pending"
    APPLYING = "applying"
    SOAKING = "soaking"
    PAUSED = "paused"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"
    ABORTED = "aborted"


TERMINAL = frozenset({RolloutPhase.ROLLED_BACK, RolloutPhase.COMPLETED, RolloutPhase.ABORTED})
# The phases in which admitted devices move towards the target and gates are watched.
ADVANCING = frozenset({RolloutPhase.APPLYING, RolloutPhase.SOAKING, RolloutPhase.PAUSED})


class RolloutState(BaseModel):
    """One rollout's state (see the module docstring for each phase's fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rollout: str = Field(min_length=1)
    final_stage: int = Field(ge=1)
    phase: RolloutPhase = RolloutPhase.PENDING
    stage: int = Field(default=0, ge=0)
    soak_until: AwareDatetime | None = None
    paused_from: RolloutPhase | None = None
    soak_left_seconds: int | None = Field(default=None, ge=0)
    reason: str | None = None
    updated_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.stage > self.final_stage:
            raise ValueError(f"stage {self.stage} is past the final stage {self.final_stage}")
        if (self.phase is RolloutPhase.PENDING) and self.stage != 0:
            raise ValueError("a pending rollout is at stage 0")
        if self.stage == 0 and self.phase not in (RolloutPhase.PENDING, RolloutPhase.ABORTED):
            raise ValueError(
                "only a pending rollout, or one aborted before it started, is at stage 0"
            )
        if (self.phase is RolloutPhase.SOAKING) != (self.soak_until is not None):
            raise ValueError("a soaking rollout, and only it, has soak_until")
        if self.phase is RolloutPhase.PAUSED:
            if self.paused_from not in (RolloutPhase.APPLYING, RolloutPhase.SOAKING):
                raise ValueError("a paused rollout was paused from applying or soaking")
            if (self.paused_from is RolloutPhase.SOAKING) != (self.soak_left_seconds is not None):
                raise ValueError("a rollout paused while soaking keeps the soak time left")
        elif self.paused_from is not None or self.soak_left_seconds is not None:
            raise ValueError("only a paused rollout has paused_from and soak_left_seconds")
        if self.phase is RolloutPhase.COMPLETED and self.stage != self.final_stage:
            raise ValueError("a completed rollout is at its final stage")
        return self

    @property
    def terminal(self) -> bool:
        """Whether the rollout has ended (rolled back, completed or aborted)."""
        return self.phase in TERMINAL

    @property
    def admitted_through(self) -> int:
        """How far admission goes (for `RolloutOverlay`): 0 nobody, the final stage everyone."""
        if self.phase in ADVANCING or self.phase is RolloutPhase.COMPLETED:
            return self.stage
        return 0

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        """The state from `to_dict`'s data."""
        return cls.model_validate(data)


def new_rollout_state(rollout: str, final_stage: int) -> RolloutState:
    """A pending rollout named `rollout` whose final stage is `final_stage`."""
    return RolloutState(rollout=rollout, final_stage=final_stage)


def seconds_between(start: datetime, end: datetime) -> int:
    """Whole seconds from `start` to `end` (0 when `end` is not later)."""
    return max(0, math.ceil((end - start).total_seconds()))
