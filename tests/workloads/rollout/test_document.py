"""The desired-state document: parsing from TOML and from JSON data, durations, what it asks
of the site's settings, and errors that name the key path and say how to fix it."""

from __future__ import annotations

import json

import pytest

from workloads.catalog import Workload
from workloads.errors import CobridgeError
from workloads.rollout import (
    EXAMPLE_DESIRED_STATE,
    DesiredState,
    DesiredStateError,
    GateAction,
    parse_desired_state,
    parse_desired_state_toml,
)
from workloads.rollout.durations import format_duration, parse_duration
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting

W = Workload
MINIMAL = '[workloads.compliance]\nslider = "cloud"\n'


def test_the_example_document_parses_and_says_what_it_shows() -> None:
    document = parse_desired_state_toml(EXAMPLE_DESIRED_STATE)
    assert document.workloads[W.COMPLIANCE].slider is Slider.CLOUD
    assert document.workloads[W.DEVICE_CONFIGURATION].pilot_collection == "PS100014"
    assert [w.describe for w in document.waves] == ["PS100020", "10%", "50%"]
    assert [w.soak for w in document.waves] == [7200, 14400, 86400]
    assert document.gates.on_trip is GateAction.ROLLBACK
    assert document.gates.min_compliance_percent == 90
    assert document.final_stage == 4
    assert document.stage_label(2) == "wave 2 (10%)"
    assert document.stage_label(4) == "final (the rest)"
    assert document.salt == "spring-cloud-move"


def test_the_same_document_as_json_data_parses_to_the_same_model() -> None:
    from_toml = parse_desired_state_toml(EXAMPLE_DESIRED_STATE)
    data = json.loads(json.dumps(from_toml.to_dict()))
    from_json = parse_desired_state(data)
    assert from_json == from_toml
    assert from_json.canonical_json() == from_toml.canonical_json()


def test_workloads_by_short_or_graph_name_in_any_case() -> None:
    document = parse_desired_state(
        {
            "workloads": {
                "Windows-Update": {"slider": "cloud"},
                "officeApps": {"slider": "pilot", "pilot_collection": "ps1000af"},
            }
        }
    )
    assert set(document.workloads) == {W.WINDOWS_UPDATE, W.OFFICE_APPS}
    assert document.workloads[W.OFFICE_APPS].pilot_collection == "PS1000AF"


def test_a_document_without_rollout_has_one_stage_all_at_once() -> None:
    document = parse_desired_state_toml(MINIMAL)
    assert document.waves == ()
    assert document.final_stage == 1
    assert document.stage_label(1) == "all at once"
    assert document.soak_seconds(1) == 0
    assert document.gates.on_trip is GateAction.PAUSE
    with pytest.raises(ValueError, match="stage 2"):
        document.stage_label(2)


def test_target_settings_change_only_the_named_workloads_and_keep_pilot_collections() -> None:
    settings = (
        CoManagementSettings(enabled=True)
        .with_workload(
            W.CLIENT_APPS, WorkloadSetting(slider=Slider.PILOT, pilot_collection="PS100030")
        )
        .with_workload(W.COMPLIANCE, WorkloadSetting(pilot_collection="PS100031"))
    )
    document = parse_desired_state_toml(
        MINIMAL + '[workloads.client-apps]\nslider = "pilot"\npilot_collection = "PS100030"\n'
    )
    target = document.target_settings(settings)
    assert target.setting(W.COMPLIANCE) == WorkloadSetting(
        slider=Slider.CLOUD, pilot_collection="PS100031"
    )
    assert target.setting(W.CLIENT_APPS) == settings.setting(W.CLIENT_APPS)
    assert target.enabled
    assert target.auto_enrollment == settings.auto_enrollment
    assert document.changed_workloads(settings) == (W.COMPLIANCE,)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0),
        (90, 90),
        ("90", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1d2h3m4s", 93784),
    ],
)
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("value", ["", "1q", "m30", "-5", -5, True, 1.5, "91d"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


# (document, the key path the error names, a phrase of the hint)
BAD_DOCUMENTS = [
    (
        '[workloads.complianse]\nslider = "cloud"\n',
        "workloads: 'complianse' is not a workload",
        "[workloads.compliance]",
    ),
    (
        '[workloads.compliance]\nslider = "cloudy"\n',
        "workloads.compliance.slider:",
        '"configmgr", "pilot" or "cloud"',
    ),
    (
        '[workloads.compliance]\nslider = "pilot"\n',
        'workloads.compliance.pilot_collection: is required when slider = "pilot"',
        "PS100014",
    ),
    (
        '[workloads.compliance]\nslider = "pilot"\npilot_collection = "PS1"\n',
        "workloads.compliance.pilot_collection: 'PS1' is not a collection id",
        "PS100014",
    ),
    ("version = 2\n" + MINIMAL, "version:", "version = 1"),
    ("[workloads]\n", "workloads: name at least one workload", "[workloads.compliance]"),
    ("", "workloads: is required", "[workloads.compliance]"),
    (MINIMAL + "[rollout]\nname = 'x'\n", "rollout.waves: is required", "[[rollout.waves]]"),
    (
        MINIMAL + "[[rollout.waves]]\npercent = 10\n",
        "rollout.waves[0].soak (wave 1): is required",
        '"30m"',
    ),
    (
        MINIMAL + "[[rollout.waves]]\npercent = 10\nsoak = '1q'\n",
        "rollout.waves[0].soak (wave 1): '1q' is not a duration",
        '"30m"',
    ),
    (
        MINIMAL + "[[rollout.waves]]\nsoak = 0\n",
        "rollout.waves[0] (wave 1): a wave names either collections or a percent",
        "[[rollout.waves]]",
    ),
    (
        MINIMAL + "[[rollout.waves]]\npercent = 10\ncollections = ['PS100020']\nsoak = 0\n",
        "rollout.waves[0] (wave 1): a wave names either",
        "[[rollout.waves]]",
    ),
    (
        MINIMAL + "[[rollout.waves]]\npercent = 101\nsoak = 0\n",
        "rollout.waves[0].percent (wave 1):",
        "at most 100",
    ),
    (
        MINIMAL + "[[rollout.waves]]\npercent = 0\nsoak = 0\n",
        "rollout.waves[0].percent (wave 1):",
        "cumulative",
    ),
    (
        MINIMAL + "[[rollout.waves]]\npercent = 2.555\nsoak = 0\n",
        "rollout.waves[0].percent (wave 1): has at most two decimals",
        "two decimals",
    ),
    (
        MINIMAL + "[[rollout.waves]]\ncollections = []\nsoak = 0\n",
        "rollout.waves[0].collections (wave 1): must name at least one",
        "collections = [",
    ),
    (
        MINIMAL + "[[rollout.waves]]\ncollections = ['PS100020', 'ps100020']\nsoak = 0\n",
        "names a collection twice",
        "collections = [",
    ),
    (
        MINIMAL
        + "[[rollout.waves]]\npercent = 50\nsoak = 0\n[[rollout.waves]]\ncollections = ['PS100020']\nsoak = 0\n[[rollout.waves]]\npercent = 50\nsoak = 0\n",
        "rollout.waves: wave 3's percent (50) must be above wave 1's (50): percentages are cumulative",
        "cumulative",
    ),
    (
        MINIMAL + "[rollout]\nwaves = [{percent = 5, soak = 0, speed = 3}]\n",
        "rollout.waves[0].speed (wave 1): unknown key",
        "the keys here are: collections, percent, soak",
    ),
    (
        MINIMAL
        + "[[rollout.waves]]\npercent = 5\nsoak = 0\n[rollout.gates]\nmax_faild_percent = 3\n",
        "rollout.gates.max_faild_percent: unknown key",
        "max_failed_percent",
    ),
    (
        MINIMAL
        + "[[rollout.waves]]\npercent = 5\nsoak = 0\n[rollout.gates]\nmax_failed_percent = 120\n",
        "rollout.gates.max_failed_percent:",
        "from 0 to 100",
    ),
    (
        MINIMAL
        + "[[rollout.waves]]\npercent = 5\nsoak = 0\n[rollout.gates]\non_trip = 'explode'\n",
        "rollout.gates.on_trip:",
        '"pause" or "rollback"',
    ),
    (
        "colour = 'blue'\n" + MINIMAL,
        "colour: unknown key",
        "the keys here are: version, workloads, rollout",
    ),
]


@pytest.mark.parametrize(("text", "names", "hint"), BAD_DOCUMENTS)
def test_errors_name_the_key_and_the_fix(text: str, names: str, hint: str) -> None:
    with pytest.raises(DesiredStateError) as caught:
        parse_desired_state_toml(text, source="desired.toml")
    error = caught.value
    assert isinstance(error, CobridgeError)
    assert error.code == "invalid_desired_state"
    assert error.message.startswith("desired.toml")
    assert names in error.message
    assert error.hint is not None
    assert hint in error.hint
    assert len(error.problems) == 1
    path, problem = error.problems[0]
    assert f"{path}: {problem}" in error.message


def test_every_problem_is_listed_with_its_path() -> None:
    text = (
        '[workloads.compliance]\nslider = "cloudy"\n'
        "[[rollout.waves]]\npercent = 50\nsoak = '1q'\n"
        "[[rollout.waves]]\ncollections = ['PS1']\nsoak = 0\n"
    )
    with pytest.raises(DesiredStateError) as caught:
        parse_desired_state_toml(text)
    paths = [path for path, _ in caught.value.problems]
    assert paths == [
        "workloads.compliance.slider",
        "rollout.waves[0].soak (wave 1)",
        "rollout.waves[1].collections[0] (wave 2)",
    ]
    assert caught.value.message.startswith("desired state: 3 problems:\n")


def test_toml_syntax_errors_name_the_line() -> None:
    with pytest.raises(DesiredStateError, match=r"not valid TOML: .*line 2") as caught:
        parse_desired_state_toml("[workloads.compliance]\nslider = cloud\n", source="d.toml")
    assert caught.value.hint
    assert "quotes" in caught.value.hint


@pytest.mark.parametrize("data", [[], "text", None, 3])
def test_json_data_that_is_not_an_object(data: object) -> None:
    with pytest.raises(DesiredStateError, match="must be an object"):
        parse_desired_state(data)


def test_documents_are_frozen() -> None:
    document = parse_desired_state_toml(MINIMAL)
    assert isinstance(document, DesiredState)
    with pytest.raises(ValueError):
        document.version = 2  # type: ignore[misc]
