"""The desired-state document: target sliders per workload and the rollout that gets there.

One schema for the file (TOML, `parse.py`) and the tenant API (JSON). Every
model forbids unknown keys, so a misspelt key is an error, never ignored.

Stages. A rollout's waves are numbered from 1. After the last wave comes one
more stage, the *final* stage (number `len(waves) + 1`): every device not
in a wave follows (as a canary tool promotes to 100% after its last step), and
the target sliders can be written to the site. A document without a rollout
has only the final stage: everything at once.

Waves. A wave names either collections (their members not already in an
earlier wave) or a cumulative percentage of the devices, picked by a stable
hash (`selection.py`); the two kinds may be mixed, percentages strictly
increasing and at most 100.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.rollout.durations import format_duration, parse_duration
from workloads.settings import CollectionId, CoManagementSettings, Slider, WorkloadSetting

MAX_WAVES = 20
BASIS_POINTS = 10_000  # 100% in basis points


def _workload_keys(value: object) -> object:
    if not isinstance(value, dict):
        return value
    if not value:
        raise ValueError("name at least one workload")
    named: dict[Workload, object] = {}
    for key, target in value.items():
        workload = Workload.named(key)
        if workload in named:
            raise ValueError(f"{key!r} names {workload.value} a second time")
        named[workload] = target
    return named


Seconds = Annotated[int, BeforeValidator(parse_duration)]


class WorkloadTarget(BaseModel):
    """Where one workload's slider should stand, and its pilot collection (needed for pilot)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slider: Slider
    pilot_collection: CollectionId | None = Field(default=None, validate_default=True)

    @field_validator("pilot_collection")
    @classmethod
    def _pilot_needs_collection(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("slider") is Slider.PILOT:
            raise ValueError('is required when slider = "pilot"')
        return value

    def setting(self, prior: WorkloadSetting) -> WorkloadSetting:
        """The site setting this target asks for; the prior pilot collection is kept when none is named."""
        return WorkloadSetting(
            slider=self.slider, pilot_collection=self.pilot_collection or prior.pilot_collection
        )


class Wave(BaseModel):
    """One wave: collections, or a cumulative percentage of the devices; and its soak time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    collections: tuple[CollectionId, ...] | None = None
    percent: float | None = Field(default=None, gt=0, le=100)
    soak: Seconds

    @field_validator("collections")
    @classmethod
    def _some_collections(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("must name at least one collection")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("names a collection twice")
        return value

    @field_validator("percent")
    @classmethod
    def _two_decimals(cls, value: float | None) -> float | None:
        if value is not None and abs(value * 100 - round(value * 100)) > 1e-6:
            raise ValueError(f"has at most two decimals, got {value}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.collections is None) == (self.percent is None):
            raise ValueError("a wave names either collections or a percent, not both or neither")
        return self

    @property
    def basis_points(self) -> int | None:
        """The cumulative threshold in basis points (0-10000), for a percentage wave."""
        return None if self.percent is None else round(self.percent * 100)

    @property
    def describe(self) -> str:
        """What the wave selects: "PS100014, PS100015" or "10%"."""
        if self.collections is not None:
            return ", ".join(self.collections)
        assert self.percent is not None  # guaranteed by _one_kind
        return f"{self.percent:g}%"


class GateAction(StrEnum):
    """What a tripped health gate does to the rollout."""

    PAUSE = "pause"
    ROLLBACK = "rollback"


class HealthGates(BaseModel):
    """Limits on the rollout's health; the compliance floor applies only when devices report it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_failed_percent: float = Field(default=5.0, ge=0, le=100)
    max_stalled_percent: float = Field(default=5.0, ge=0, le=100)
    max_conflicts: int = Field(default=0, ge=0)
    min_compliance_percent: float | None = Field(default=None, ge=0, le=100)
    on_trip: GateAction = GateAction.PAUSE


class Rollout(BaseModel):
    """The staged rollout: named, ordered waves, health gates; `salt` picks percentage waves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="rollout", min_length=1, max_length=100)
    salt: str | None = Field(default=None, min_length=1, max_length=200)
    waves: tuple[Wave, ...] = Field(min_length=1, max_length=MAX_WAVES)
    gates: HealthGates = HealthGates()

    @field_validator("waves")
    @classmethod
    def _percentages_increase(cls, waves: tuple[Wave, ...]) -> tuple[Wave, ...]:
        last: tuple[int, int] | None = None  # (wave number, basis points)
        for number, wave in enumerate(waves, start=1):
            points = wave.basis_points
            if points is None:
                continue
            if last is not None and points <= last[1]:
                raise PydanticCustomError(
                    "percent_not_increasing",
                    "wave {number}'s percent ({percent}) must be above wave {earlier}'s "
                    "({earlier_percent}): percentages are cumulative",
                    {
                        "number": number,
                        "percent": f"{wave.percent:g}",
                        "earlier": last[0],
                        "earlier_percent": f"{last[1] / 100:g}",
                    },
                )
            last = (number, points)
        return waves

    @property
    def selection_salt(self) -> str:
        """The salt of the stable hash: `salt`, else the rollout's name."""
        return self.salt or self.name


class DesiredState(BaseModel):
    """A desired-state document: target sliders per workload and an optional staged rollout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    workloads: Annotated[dict[Workload, WorkloadTarget], BeforeValidator(_workload_keys)]
    rollout: Rollout | None = None

    @property
    def waves(self) -> tuple[Wave, ...]:
        """The rollout's waves (none without a rollout)."""
        return self.rollout.waves if self.rollout else ()

    @property
    def gates(self) -> HealthGates:
        """The rollout's health gates (the defaults without a rollout)."""
        return self.rollout.gates if self.rollout else HealthGates()

    @property
    def name(self) -> str:
        """The rollout's name ("rollout" without one)."""
        return self.rollout.name if self.rollout else "rollout"

    @property
    def salt(self) -> str:
        """The stable hash's salt."""
        return self.rollout.selection_salt if self.rollout else self.name

    @property
    def final_stage(self) -> int:
        """The number of the final stage: `len(waves) + 1`."""
        return len(self.waves) + 1

    def stage_label(self, stage: int) -> str:
        """ "wave 2 (10%)", "final (the rest)", or "all at once" (no rollout)."""
        if 1 <= stage <= len(self.waves):
            return f"wave {stage} ({self.waves[stage - 1].describe})"
        if stage == self.final_stage:
            return "final (the rest)" if self.waves else "all at once"
        raise ValueError(f"stage {stage} is not between 1 and {self.final_stage}")

    def soak_seconds(self, stage: int) -> int:
        """How long a stage soaks once applied (the final stage does not soak)."""
        return self.waves[stage - 1].soak if 1 <= stage <= len(self.waves) else 0

    def target_settings(self, settings: CoManagementSettings) -> CoManagementSettings:
        """`settings` with every workload the document names set to its target."""
        target = settings
        for workload, wanted in self.workloads.items():
            target = target.with_workload(workload, wanted.setting(settings.setting(workload)))
        return target

    def changed_workloads(self, settings: CoManagementSettings) -> tuple[Workload, ...]:
        """The workloads whose setting the document changes, in catalog order."""
        target = self.target_settings(settings)
        return tuple(w for w in ALL_WORKLOADS if target.setting(w) != settings.setting(w))

    def to_dict(self) -> dict[str, Any]:
        """The document as JSON-able data (durations in seconds, workloads by Graph name)."""
        return self.model_dump(mode="json")

    def canonical_json(self) -> str:
        """A canonical JSON text of the document (sorted keys, no spaces), for hashing."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def describe_soak(seconds: int) -> str:
    """A soak time for plans and status lines ("no soak" for 0)."""
    return "no soak" if seconds == 0 else f"soak {format_duration(seconds)}"
