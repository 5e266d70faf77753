"""The plan of a desired-state document over a small fleet written out here: counts, samples,
dependency effects, the rendered text and JSON, and what the plan hash depends on.

The golden fleet's percentage waves depend on each device's stable bucket
under the salt "golden"; `test_golden_buckets` pins them, so the expected
stages below can be checked by hand:

| device | bucket | collections | stage |
| --- | --- | --- | --- |
| 01 | 3380 | PS100020, PS100014 | wave 1 (collection) |
| 02 | 1630 | PS100040 | wave 2 (< 20%) |
| 03 | 315 | (not co-managed) | no move |
| 04 | 4203 | PS100014 | final (>= 40%) |
| 05 | 3533 | PS100014 | wave 3 (< 40%) |
| 06 | 9151 | PS100020, PS100040 | wave 1 (collection) |
| 07 | 3226 | none | wave 3 |
| 08 | 7169 | PS100020, PS100014 | wave 1 (collection) |
"""

from __future__ import annotations

import json
import random
import re

import pytest

from workloads.authority import DeviceFacts
from workloads.catalog import Holder, Workload
from workloads.rollout import (
    PlanDevice,
    Planner,
    parse_desired_state_toml,
    plan_rollout,
    plan_to_dict,
    render_plan_text,
)
from workloads.rollout.selection import device_bucket
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting

W = Workload
CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD

GOLDEN_DOCUMENT = """
[workloads.compliance]
slider = "cloud"

[workloads.device-configuration]
slider = "pilot"
pilot_collection = "PS100014"

[workloads.windows-update]
slider = "configmgr"

[rollout]
name = "golden"

[[rollout.waves]]
collections = ["PS100020"]
soak = "1h"

[[rollout.waves]]
percent = 20
soak = "30m"

[[rollout.waves]]
percent = 40
soak = "2h"

[rollout.gates]
on_trip = "rollback"
"""
DOCUMENT = parse_desired_state_toml(GOLDEN_DOCUMENT)
SETTINGS = CoManagementSettings(enabled=True).with_workload(
    W.WINDOWS_UPDATE, WorkloadSetting(slider=Slider.PILOT, pilot_collection="PS100040")
)


def smsid(n: int) -> str:
    return f"GUID:00000000-0000-0000-0000-0000000000{n:02d}"


def device(
    n: int,
    *collections: str,
    co_managed: bool = True,
    current: dict[Workload, Holder] | None = None,
) -> PlanDevice:
    facts = DeviceFacts(
        agent_present=True,
        mdm_enrolled=co_managed,
        comgmt_policy_present=True,
        collection_ids=frozenset(collections),
    )
    return PlanDevice(smsid(n), facts, f"PC-{n:02d}", current)


def golden_fleet() -> list[PlanDevice]:
    return [
        device(1, "PS100020", "PS100014"),
        device(2, "PS100040"),
        device(3, co_managed=False),
        device(4, "PS100014"),
        device(5, "PS100014"),
        device(6, "PS100020", "PS100040"),
        device(7, current={W.COMPLIANCE: CLOUD}),
        device(8, "PS100020", "PS100014"),
    ]


GOLDEN_TEXT = """\
Rollout "golden": 3 waves, then the final stage
Gates: failed handoffs ≤ 5%, stalled handoffs ≤ 5%, conflicts ≤ 0; a tripped gate rolls back the rollout
Devices: 8 (7 co-managed)

~ compliancePolicy (Compliance policies): configmgr → cloud
  + compliancePolicy: wave 1 (PS100020): 3 devices site → cloud
      GUID:00000000-0000-0000-0000-000000000001  PC-01
      GUID:00000000-0000-0000-0000-000000000008  PC-08
  + compliancePolicy: wave 2 (20%): 1 device site → cloud
      GUID:00000000-0000-0000-0000-000000000002  PC-02
  + compliancePolicy: wave 3 (40%): 2 devices site → cloud
      GUID:00000000-0000-0000-0000-000000000007  PC-07
      GUID:00000000-0000-0000-0000-000000000005  PC-05
  + compliancePolicy: final (the rest): 1 device site → cloud
      GUID:00000000-0000-0000-0000-000000000004  PC-04
  = compliancePolicy: 1 device unchanged
~ deviceConfiguration (Device configuration): configmgr → pilot (PS100014)
  + deviceConfiguration: wave 1 (PS100020): 2 devices site → cloud
      GUID:00000000-0000-0000-0000-000000000001  PC-01
      GUID:00000000-0000-0000-0000-000000000008  PC-08
  + deviceConfiguration: wave 3 (40%): 1 device site → cloud
      GUID:00000000-0000-0000-0000-000000000005  PC-05
  + deviceConfiguration: final (the rest): 1 device site → cloud
      GUID:00000000-0000-0000-0000-000000000004  PC-04
  = deviceConfiguration: 4 devices unchanged
~ resourceAccess (Resource access policies): follows Device configuration
  + resourceAccess: wave 1 (PS100020): 2 devices site → cloud, carried along by Device configuration
      GUID:00000000-0000-0000-0000-000000000001  PC-01
      GUID:00000000-0000-0000-0000-000000000008  PC-08
  + resourceAccess: wave 3 (40%): 1 device site → cloud, carried along by Device configuration
      GUID:00000000-0000-0000-0000-000000000005  PC-05
  + resourceAccess: final (the rest): 1 device site → cloud, carried along by Device configuration
      GUID:00000000-0000-0000-0000-000000000004  PC-04
  = resourceAccess: 4 devices unchanged
~ endpointProtection (Endpoint Protection): follows Device configuration
  + endpointProtection: wave 1 (PS100020): 2 devices site → cloud, carried along by Device configuration
      GUID:00000000-0000-0000-0000-000000000001  PC-01
      GUID:00000000-0000-0000-0000-000000000008  PC-08
  + endpointProtection: wave 3 (40%): 1 device site → cloud, carried along by Device configuration
      GUID:00000000-0000-0000-0000-000000000005  PC-05
  + endpointProtection: final (the rest): 1 device site → cloud, carried along by Device configuration
      GUID:00000000-0000-0000-0000-000000000004  PC-04
  = endpointProtection: 4 devices unchanged
~ windowsUpdateForBusiness (Windows Update policies): pilot (PS100040) → configmgr
  - windowsUpdateForBusiness: wave 1 (PS100020): 1 device cloud → site
      GUID:00000000-0000-0000-0000-000000000006  PC-06
  - windowsUpdateForBusiness: wave 2 (20%): 1 device cloud → site
      GUID:00000000-0000-0000-0000-000000000002  PC-02
  = windowsUpdateForBusiness: 6 devices unchanged

Stages:
  wave 1 (PS100020): 3 devices move, then soak 1h
  wave 2 (20%): 1 device moves, then soak 30m
  wave 3 (40%): 2 devices move, then soak 2h
  final (the rest): 1 device moves
Note: 1 workload holder is not yet where the site's current settings want it; the arbiter moves it whatever this plan does.
Plan: 21 moves on 7 devices: 19 site → cloud, 2 cloud → site (8 carried along by Device configuration).
Plan hash: <hash>
"""


def golden_plan(sample_size: int = 2, fleet: list[PlanDevice] | None = None):
    return plan_rollout(SETTINGS, DOCUMENT, fleet or golden_fleet(), sample_size=sample_size)


def test_golden_buckets() -> None:
    buckets = [device_bucket("golden", smsid(n)) for n in range(1, 9)]
    assert buckets == [3380, 1630, 315, 4203, 3533, 9151, 3226, 7169]


def test_golden_plan_counts() -> None:
    plan = golden_plan()
    assert (plan.devices, plan.co_managed, plan.outside_rollout) == (8, 7, 1)
    assert plan.has_changes
    assert [(s.stage, s.devices, s.moves) for s in plan.stages] == [
        (1, 3, 10),
        (2, 1, 2),
        (3, 2, 5),
        (4, 1, 4),
    ]
    assert plan.totals() == {"moves": 21, "to_cloud": 19, "to_site": 2, "carried": 8}
    compliance = plan.workload(W.COMPLIANCE)
    assert compliance is not None
    assert [(s.stage, s.to_cloud, s.to_site) for s in compliance.stages] == [
        (1, 3, 0),
        (2, 1, 0),
        (3, 2, 0),
        (4, 1, 0),
    ]
    assert compliance.unchanged == 1
    for dependant in (W.RESOURCE_ACCESS, W.ENDPOINT_PROTECTION):
        carried = plan.workload(dependant)
        assert carried is not None
        assert not carried.in_document
        assert [(s.stage, s.carried_to_cloud, s.to_cloud) for s in carried.stages] == [
            (1, 2, 0),
            (3, 1, 0),
            (4, 1, 0),
        ]
    update = plan.workload(W.WINDOWS_UPDATE)
    assert update is not None
    assert [(s.stage, s.to_site) for s in update.stages] == [(1, 1), (2, 1)]
    assert plan.workload(W.CLIENT_APPS) is None


def test_golden_plan_text() -> None:
    text = render_plan_text(golden_plan())
    assert re.search(r"^Plan hash: [0-9a-f]{64}$", text, re.MULTILINE)
    assert re.sub(r"Plan hash: [0-9a-f]{64}", "Plan hash: <hash>", text) == GOLDEN_TEXT


def test_samples_are_the_first_devices_by_hash_and_bounded() -> None:
    plan = golden_plan(sample_size=1)
    compliance = plan.workload(W.COMPLIANCE)
    assert compliance is not None
    wave1 = compliance.stage(1)
    assert wave1 is not None
    # Wave 1 holds devices 01, 06, 08 (buckets 3380, 9151, 7169): 01 comes first.
    assert [d.smsid for d in wave1.sample] == [smsid(1)]
    assert wave1.sample[0].before is CM
    assert wave1.sample[0].after is CLOUD
    assert not render_plan_text(golden_plan(sample_size=0), samples=True).count("PC-")
    assert "PC-" not in render_plan_text(plan, samples=False)


def test_plan_json_is_json_and_matches_the_counts() -> None:
    data = json.loads(json.dumps(plan_to_dict(golden_plan())))
    assert data["has_changes"] is True
    assert data["totals"] == {"moves": 21, "to_cloud": 19, "to_site": 2, "carried": 8, "devices": 7}
    assert [s["devices"] for s in data["stages"]] == [3, 1, 2, 1]
    by_name = {w["workload"]: w for w in data["workloads"]}
    assert list(by_name) == [
        "compliancePolicy",
        "deviceConfiguration",
        "resourceAccess",
        "endpointProtection",
        "windowsUpdateForBusiness",
    ]
    ep = by_name["endpointProtection"]
    assert ep["stages"][0]["carried_to_cloud"] == 2
    assert {d["carried"] for d in ep["stages"][0]["sample"]} == {True}
    assert by_name["windowsUpdateForBusiness"]["from"] == {
        "slider": "pilot",
        "pilot_collection": "PS100040",
    }


def test_plan_hash_ignores_device_order_and_unchanging_devices() -> None:
    fleet = golden_fleet()
    shuffled = list(fleet)
    random.Random(7).shuffle(shuffled)
    base = golden_plan().plan_hash
    assert golden_plan(fleet=shuffled).plan_hash == base
    # A device that moves nothing (not co-managed) does not change the plan.
    assert golden_plan(fleet=[*fleet, device(40, "PS100020", co_managed=False)]).plan_hash == base
    # Nor do in-flight handoffs (current holders) or the sample size.
    settled = [PlanDevice(d.smsid, d.facts, d.name) for d in fleet]
    assert golden_plan(fleet=settled).plan_hash == base
    assert golden_plan(sample_size=9).plan_hash == base


def test_plan_hash_changes_with_the_fleet_the_document_and_the_settings() -> None:
    fleet = golden_fleet()
    base = golden_plan().plan_hash
    # Device 07 joins the wave-1 collection: same moves, another stage.
    moved = [*fleet[:6], device(7, "PS100020"), fleet[7]]
    assert golden_plan(fleet=moved).plan_hash != base
    # Device 04 enrolls out: one device fewer moves.
    assert golden_plan(fleet=[d for d in fleet if d.smsid != smsid(4)]).plan_hash != base
    other = parse_desired_state_toml(GOLDEN_DOCUMENT.replace('soak = "2h"', 'soak = "3h"'))
    assert plan_rollout(SETTINGS, other, fleet).plan_hash != base
    settings = SETTINGS.with_workload(W.OFFICE_APPS, WorkloadSetting(slider=Slider.CLOUD))
    assert plan_rollout(settings, DOCUMENT, fleet).plan_hash != base


def test_no_changes_when_the_site_already_matches() -> None:
    settings = DOCUMENT.target_settings(SETTINGS)
    plan = plan_rollout(settings, DOCUMENT, golden_fleet())
    assert not plan.has_changes
    assert plan.moves == 0
    text = render_plan_text(plan)
    assert "No changes" in text
    assert "= compliancePolicy (Compliance policies): already cloud" in text


def test_co_management_off_moves_nothing_but_still_changes_settings() -> None:
    plan = plan_rollout(SETTINGS.with_enabled(False), DOCUMENT, golden_fleet())
    assert plan.moves == 0
    assert plan.co_managed == 0
    assert plan.has_changes  # the sliders would still be written
    text = render_plan_text(plan)
    assert "co-management is off at the site" in text
    assert "Plan: the site's settings change, no device changes holder." in text


def test_endpoint_protection_named_with_device_configuration_is_direct_where_its_slider_explains_it() -> (
    None
):
    document = parse_desired_state_toml(
        '[workloads.device-configuration]\nslider = "cloud"\n'
        '[workloads.endpoint-protection]\nslider = "pilot"\npilot_collection = "PS100050"\n'
    )
    fleet = [device(1, "PS100050"), device(2)]
    plan = plan_rollout(CoManagementSettings(enabled=True), document, fleet)
    ep = plan.workload(W.ENDPOINT_PROTECTION)
    assert ep is not None
    assert ep.in_document
    final = ep.stage(1)
    assert final is not None
    # Device 1 is in its own pilot: direct. Device 2 is carried by Device configuration.
    assert (final.to_cloud, final.carried_to_cloud) == (1, 1)
    assert [d.smsid for d in final.sample if d.carried] == [smsid(2)]


def test_device_configuration_leaving_the_cloud_brings_its_dependants_back() -> None:
    settings = CoManagementSettings(enabled=True).with_workload(
        W.DEVICE_CONFIGURATION, WorkloadSetting(slider=Slider.CLOUD)
    )
    document = parse_desired_state_toml('[workloads.device-configuration]\nslider = "configmgr"\n')
    plan = plan_rollout(settings, document, [device(1), device(2, co_managed=False)])
    assert plan.totals() == {"moves": 3, "to_cloud": 0, "to_site": 3, "carried": 2}
    text = render_plan_text(plan)
    assert "- deviceConfiguration: all at once: 1 device cloud → site" in text
    assert (
        "- endpointProtection: all at once: 1 device cloud → site, carried along by "
        "Device configuration" in text
    )


def test_planner_streams_once_and_refuses_devices_after_finish() -> None:
    planner = Planner(SETTINGS, DOCUMENT)
    planner.add_all(iter(golden_fleet()))
    plan = planner.finish()
    assert plan.devices == 8
    with pytest.raises(RuntimeError):
        planner.add(device(9))
