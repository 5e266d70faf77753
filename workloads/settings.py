"""Co-management settings as the site owns them: enablement, auto-enrollment, sliders.

The site owns these settings (DESIGN.md section 7); the bridge reads them and
writes changes back. These models hold exactly what the admin chose: the
dependency rule between workloads (Device configuration carries Resource access
and Endpoint Protection) is *not* applied to the stored sliders, because a
slider is the site's data and rewriting it would surprise the admin. The rule
is applied in one place, when the desired holder is computed
(`workloads.authority.desired_holders`).

Collection ids have the site's shape: three site-code characters then five hex
digits (`PS100014`, built-ins such as `SMS00001`). They are stored upper-case.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from workloads.catalog import ALL_WORKLOADS, Workload

_COLLECTION_ID = re.compile(r"[A-Z0-9]{3}[0-9A-F]{5}")


def collection_id(value: str) -> str:
    """`value` as a collection id (upper-cased), or ValueError if it has not the site's shape."""
    normalized = value.strip().upper()
    if not _COLLECTION_ID.fullmatch(normalized):
        raise ValueError(
            f"{value!r} is not a collection id: expected 3 site-code characters and "
            "5 hex digits, such as PS100014"
        )
    return normalized


CollectionId = Annotated[str, AfterValidator(collection_id)]


class Slider(StrEnum):
    """Where a workload's slider stands."""

    CONFIGMGR = "configmgr"  # the site, for every device (the default)
    PILOT = "pilot"  # the cloud, for co-managed members of the workload's pilot collection
    CLOUD = "cloud"  # the cloud, for every co-managed device


class EnrollmentScope(StrEnum):
    """Which devices the site enrolls into the cloud tenant automatically."""

    NONE = "none"
    PILOT = "pilot"
    ALL = "all"


class WorkloadSetting(BaseModel):
    """One workload's slider and pilot collection.

    The pilot collection is required when the slider is Pilot; it is kept (and
    ignored) on the other positions, as the site keeps it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    slider: Slider = Slider.CONFIGMGR
    pilot_collection: CollectionId | None = None

    @model_validator(mode="after")
    def _pilot_needs_collection(self) -> Self:
        if self.slider is Slider.PILOT and self.pilot_collection is None:
            raise ValueError("a workload on Pilot needs a pilot collection")
        return self


class AutoEnrollment(BaseModel):
    """Auto-enrollment scope; Pilot names the auto-enrollment collection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: EnrollmentScope = EnrollmentScope.NONE
    collection: CollectionId | None = None

    @model_validator(mode="after")
    def _pilot_needs_collection(self) -> Self:
        if self.scope is EnrollmentScope.PILOT and self.collection is None:
            raise ValueError("auto-enrollment scope Pilot needs a collection")
        return self

    def covers(self, collection_ids: frozenset[str]) -> bool:
        """Whether a device in `collection_ids` is in scope for auto-enrollment."""
        if self.scope is EnrollmentScope.ALL:
            return True
        if self.scope is EnrollmentScope.PILOT:
            return self.collection in collection_ids
        return False


def _all_seven(value: dict[Workload, WorkloadSetting]) -> dict[Workload, WorkloadSetting]:
    # Every workload has a setting; the ones the site did not name stay on the site.
    return {workload: value.get(workload, WorkloadSetting()) for workload in ALL_WORKLOADS}


class CoManagementSettings(BaseModel):
    """The site's co-management settings: on/off, auto-enrollment, and all seven sliders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    auto_enrollment: AutoEnrollment = AutoEnrollment()
    workloads: Annotated[dict[Workload, WorkloadSetting], AfterValidator(_all_seven)] = Field(
        default_factory=lambda: _all_seven({})
    )

    def setting(self, workload: Workload) -> WorkloadSetting:
        """The slider and pilot collection of `workload`."""
        return self.workloads[workload]

    def with_workload(self, workload: Workload, setting: WorkloadSetting) -> CoManagementSettings:
        """A copy with `workload` set to `setting`, the other workloads unchanged.

        Only the named slider moves (see the module docstring for why the
        dependency rule is applied later, when holders are computed).
        """
        workloads = dict(self.workloads)
        workloads[Workload(workload)] = setting
        return CoManagementSettings(
            enabled=self.enabled, auto_enrollment=self.auto_enrollment, workloads=workloads
        )

    def with_auto_enrollment(self, auto_enrollment: AutoEnrollment) -> CoManagementSettings:
        """A copy with a new auto-enrollment scope."""
        return self.model_copy(update={"auto_enrollment": auto_enrollment})

    def with_enabled(self, enabled: bool) -> CoManagementSettings:
        """A copy with co-management switched on or off."""
        return self.model_copy(update={"enabled": enabled})
