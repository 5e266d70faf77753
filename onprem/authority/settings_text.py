"""Co-management settings as people and documents give and see them: parsing and a summary.

`parse_settings` turns a document (the API's or the desired-state file's
JSON) into `CoManagementSettings` or a `InvalidCoManagementSettings` that
names every problem; `settings_summary` lists the settings as rows for a
table, with the dependency rule spelled out where it moves a workload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from onprem.errors import InvalidCoManagementSettings
from workloads.catalog import Carriage, Workload
from workloads.settings import CoManagementSettings, EnrollmentScope, Slider

SLIDER_NAMES = {
    Slider.CONFIGMGR: "Configuration Manager",
    Slider.PILOT: "Pilot",
    Slider.CLOUD: "Cloud",
}
SCOPE_NAMES = {
    EnrollmentScope.NONE: "None",
    EnrollmentScope.PILOT: "Pilot",
    EnrollmentScope.ALL: "All",
}


def _problem(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "settings"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


def parse_settings(document: Mapping[str, Any]) -> CoManagementSettings:
    """`document` as settings, or InvalidCoManagementSettings naming each problem.

    Refused: a workload or auto-enrollment on Pilot without a collection, a
    collection id not of the site's shape, an unknown workload, slider, scope
    or field. Workloads not named stay on the site.
    """
    try:
        return CoManagementSettings.model_validate(dict(document))
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        raise InvalidCoManagementSettings(
            "co-management settings refused: " + "; ".join(problems),
            hint="a workload on Pilot needs its pilot collection (e.g. PS100014); sliders are "
            "configmgr, pilot or cloud; workloads are named by their Graph feature name",
        ) from exc


def _dependency_note(settings: CoManagementSettings, workload: Workload) -> str | None:
    # Why a dependant may not be where its own slider says (the catalog's dependency rule).
    carrier = workload.carrier
    if carrier is None:
        return None
    if workload.carriage is Carriage.ALWAYS:
        retired = " (retired in current releases)" if workload.retired else ""
        return f"follows {carrier.display_name}{retired}"
    if settings.setting(workload).slider is Slider.CLOUD:
        return None
    carried = settings.setting(carrier)
    if carried.slider is Slider.CLOUD:
        return f"on the cloud with {carrier.display_name}"
    if carried.slider is Slider.PILOT:
        return f"on the cloud with {carrier.display_name} for members of {carried.pilot_collection}"
    return None


def settings_summary(settings: CoManagementSettings) -> list[dict[str, str | None]]:
    """One row per setting (co-management, auto-enrollment, the seven workloads), for a table.

    Each row has `key` (stable), `name` (as admins know it), `value`,
    `collection` (the pilot or auto-enrollment collection, when it applies)
    and `note` (why a workload may not be where its slider says).
    """
    rows: list[dict[str, str | None]] = [
        {
            "key": "coManagement",
            "name": "Co-management",
            "value": "Enabled" if settings.enabled else "Disabled",
            "collection": None,
            "note": None if settings.enabled else "every workload stays on the site",
        }
    ]
    enrollment = settings.auto_enrollment
    rows.append(
        {
            "key": "autoEnrollment",
            "name": "Automatic enrollment",
            "value": SCOPE_NAMES[enrollment.scope],
            "collection": enrollment.collection
            if enrollment.scope is EnrollmentScope.PILOT
            else None,
            "note": None,
        }
    )
    for workload, setting in settings.workloads.items():
        note = _dependency_note(settings, workload)
        rows.append(
            {
                "key": workload.feature_name,
                "name": workload.display_name,
                "value": SLIDER_NAMES[setting.slider],
                "collection": setting.pilot_collection if setting.slider is Slider.PILOT else None,
                "note": note,
            }
        )
    return rows
