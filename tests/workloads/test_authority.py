"""Settings validation, the co-managed predicate and the desired holder of each workload."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from workloads.authority import (
    DeviceFacts,
    desired_holder,
    desired_holders,
    flags_for,
    in_auto_enrollment_scope,
    is_co_managed,
    is_eligible,
)
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.settings import (
    AutoEnrollment,
    CoManagementSettings,
    EnrollmentScope,
    Slider,
    WorkloadSetting,
    collection_id,
)

W = Workload
CM, CLOUD = Holder.CONFIGMGR, Holder.CLOUD
PILOT_A, PILOT_B = "PS100014", "PS1000AF"


def co_managed(*collections: str, **changes: object) -> DeviceFacts:
    values: dict[str, object] = {
        "agent_present": True,
        "mdm_enrolled": True,
        "comgmt_policy_present": True,
        "entra_joined": True,
        "os_name": "Microsoft Windows NT Workstation 10.0",
        "os_build": "10.0.22631",
        "collection_ids": frozenset(collections),
    }
    return DeviceFacts.model_validate(values | changes)


def sliders(**by_workload: Slider | tuple[Slider, str]) -> CoManagementSettings:
    settings = CoManagementSettings(enabled=True)
    for name, value in by_workload.items():
        slider, collection = value if isinstance(value, tuple) else (value, None)
        settings = settings.with_workload(
            W[name.upper()], WorkloadSetting(slider=slider, pilot_collection=collection)
        )
    return settings


ALL_CLOUD = sliders(**{w.name.lower(): Slider.CLOUD for w in ALL_WORKLOADS})


# Settings


def test_default_settings_put_all_seven_on_the_site() -> None:
    settings = CoManagementSettings()
    assert not settings.enabled
    assert set(settings.workloads) == set(ALL_WORKLOADS)
    assert all(settings.setting(w).slider is Slider.CONFIGMGR for w in ALL_WORKLOADS)
    assert settings.auto_enrollment.scope is EnrollmentScope.NONE


def test_missing_workloads_default_to_the_site_and_unknown_ones_are_refused() -> None:
    settings = CoManagementSettings.model_validate(
        {"workloads": {"modernApps": {"slider": "cloud"}}}
    )
    assert settings.setting(W.CLIENT_APPS).slider is Slider.CLOUD
    assert settings.setting(W.COMPLIANCE).slider is Slider.CONFIGMGR
    with pytest.raises(ValidationError):
        CoManagementSettings.model_validate({"workloads": {"printers": {"slider": "cloud"}}})


def test_with_workload_returns_a_new_object_and_moves_only_that_slider() -> None:
    before = CoManagementSettings(enabled=True)
    after = before.with_workload(W.DEVICE_CONFIGURATION, WorkloadSetting(slider=Slider.CLOUD))
    assert before.setting(W.DEVICE_CONFIGURATION).slider is Slider.CONFIGMGR
    assert after.setting(W.DEVICE_CONFIGURATION).slider is Slider.CLOUD
    # The stored sliders of the dependants stay as the admin set them.
    assert after.setting(W.RESOURCE_ACCESS).slider is Slider.CONFIGMGR
    assert after.setting(W.ENDPOINT_PROTECTION).slider is Slider.CONFIGMGR
    with pytest.raises(ValidationError):
        after.enabled = False  # type: ignore[misc]


def test_settings_survive_a_json_round_trip() -> None:
    settings = sliders(compliance=(Slider.PILOT, PILOT_A)).with_auto_enrollment(
        AutoEnrollment(scope=EnrollmentScope.PILOT, collection=PILOT_B)
    )
    assert CoManagementSettings.model_validate_json(settings.model_dump_json()) == settings


def test_pilot_slider_needs_a_collection_of_the_sites_shape() -> None:
    with pytest.raises(ValidationError, match="pilot collection"):
        WorkloadSetting(slider=Slider.PILOT)
    assert WorkloadSetting(slider=Slider.PILOT, pilot_collection="ps100014").pilot_collection == (
        "PS100014"
    )
    # The pilot collection is kept on the other positions, as the site keeps it.
    assert (
        WorkloadSetting(slider=Slider.CLOUD, pilot_collection=PILOT_A).pilot_collection == PILOT_A
    )


@pytest.mark.parametrize("bad", ["PS10001", "PS1000014", "PS10001G", "P$100014", "", "All Systems"])
def test_collection_ids_of_another_shape_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a collection id"):
        collection_id(bad)
    with pytest.raises(ValidationError):
        WorkloadSetting(slider=Slider.PILOT, pilot_collection=bad)


def test_builtin_collection_ids_are_accepted() -> None:
    assert collection_id("SMS00001") == "SMS00001"
    assert collection_id(" ps1000af ") == "PS1000AF"


def test_auto_enrollment_pilot_needs_a_collection() -> None:
    with pytest.raises(ValidationError, match="collection"):
        AutoEnrollment(scope=EnrollmentScope.PILOT)


# Co-managed, eligible, auto-enrollment scope


def test_co_managed_needs_agent_enrollment_and_policy() -> None:
    assert is_co_managed(co_managed())
    assert not is_co_managed(co_managed(agent_present=False))
    assert not is_co_managed(co_managed(mdm_enrolled=False))
    assert not is_co_managed(co_managed(comgmt_policy_present=False))
    assert not is_co_managed(DeviceFacts())


@pytest.mark.parametrize(
    ("os_name", "os_build", "eligible"),
    [
        ("Microsoft Windows NT Workstation 10.0", "10.0.22631", True),
        ("Microsoft Windows NT Workstation 10.0", "10.0.16299", True),
        ("Microsoft Windows NT Workstation 10.0", "10.0.15063", False),
        ("Microsoft Windows NT Server 10.0", "10.0.20348", False),
        ("Microsoft Windows NT Workstation 10.0", None, False),
        (None, None, False),
    ],
)
def test_eligibility_needs_windows_10_1709_or_later_and_no_server(
    os_name: str | None, os_build: str | None, eligible: bool
) -> None:
    assert is_eligible(co_managed(os_name=os_name, os_build=os_build)) is eligible


def test_eligibility_needs_an_entra_or_hybrid_join_and_the_agent() -> None:
    assert not is_eligible(co_managed(entra_joined=False))
    assert not is_eligible(co_managed(agent_present=False))


def test_auto_enrollment_scope() -> None:
    member = co_managed(PILOT_B, mdm_enrolled=False)
    outsider = co_managed(mdm_enrolled=False)
    enabled = CoManagementSettings(enabled=True)
    pilot = enabled.with_auto_enrollment(
        AutoEnrollment(scope=EnrollmentScope.PILOT, collection=PILOT_B)
    )
    everyone = enabled.with_auto_enrollment(AutoEnrollment(scope=EnrollmentScope.ALL))
    assert not in_auto_enrollment_scope(enabled, member)
    assert in_auto_enrollment_scope(pilot, member)
    assert not in_auto_enrollment_scope(pilot, outsider)
    assert in_auto_enrollment_scope(everyone, outsider)
    assert not in_auto_enrollment_scope(everyone.with_enabled(False), outsider)
    assert not in_auto_enrollment_scope(everyone, co_managed(os_build="10.0.15063"))


# Desired holders


@pytest.mark.parametrize(
    "facts",
    [
        co_managed(mdm_enrolled=False),
        co_managed(comgmt_policy_present=False),
        co_managed(agent_present=False),
    ],
)
def test_not_co_managed_means_all_on_the_site_whatever_the_sliders(facts: DeviceFacts) -> None:
    assert desired_holders(ALL_CLOUD, facts) == dict.fromkeys(ALL_WORKLOADS, CM)
    assert flags_for(desired_holders(ALL_CLOUD, facts)) == 1


def test_co_management_off_on_the_site_means_all_on_the_site() -> None:
    assert desired_holders(ALL_CLOUD.with_enabled(False), co_managed()) == dict.fromkeys(
        ALL_WORKLOADS, CM
    )


def test_all_on_the_cloud_is_flags_255() -> None:
    holders = desired_holders(ALL_CLOUD, co_managed())
    assert holders == dict.fromkeys(ALL_WORKLOADS, CLOUD)
    assert list(holders) == list(ALL_WORKLOADS)
    assert flags_for(holders) == 255


def test_compliance_and_client_apps_on_the_cloud_is_flags_67() -> None:
    settings = sliders(compliance=Slider.CLOUD, client_apps=Slider.CLOUD)
    assert flags_for(desired_holders(settings, co_managed())) == 67


def test_pilot_is_the_cloud_only_for_members_of_that_workloads_own_collection() -> None:
    settings = sliders(compliance=(Slider.PILOT, PILOT_A), windows_update=(Slider.PILOT, PILOT_B))
    in_a = desired_holders(settings, co_managed(PILOT_A))
    assert (in_a[W.COMPLIANCE], in_a[W.WINDOWS_UPDATE]) == (CLOUD, CM)
    in_b = desired_holders(settings, co_managed(PILOT_B.lower()))
    assert (in_b[W.COMPLIANCE], in_b[W.WINDOWS_UPDATE]) == (CM, CLOUD)
    in_neither = desired_holders(settings, co_managed("PS100099"))
    assert (in_neither[W.COMPLIANCE], in_neither[W.WINDOWS_UPDATE]) == (CM, CM)


def test_pilot_member_that_is_not_co_managed_stays_on_the_site() -> None:
    settings = sliders(compliance=(Slider.PILOT, PILOT_A))
    assert desired_holder(settings, co_managed(PILOT_A, mdm_enrolled=False), W.COMPLIANCE) is CM


def test_cloud_slider_ignores_the_pilot_collection() -> None:
    settings = sliders(office_apps=(Slider.CLOUD, PILOT_A))
    assert desired_holder(settings, co_managed(), W.OFFICE_APPS) is CLOUD


def test_device_configuration_on_the_cloud_carries_resource_access_and_endpoint_protection() -> (
    None
):
    settings = sliders(device_configuration=Slider.CLOUD)
    holders = desired_holders(settings, co_managed())
    assert holders[W.RESOURCE_ACCESS] is CLOUD
    assert holders[W.ENDPOINT_PROTECTION] is CLOUD
    assert holders[W.COMPLIANCE] is CM
    assert flags_for(holders) == 1 + 4 + 8 + 32


def test_device_configuration_on_pilot_carries_its_dependants_for_members_only() -> None:
    settings = sliders(device_configuration=(Slider.PILOT, PILOT_A))
    member = desired_holders(settings, co_managed(PILOT_A))
    outsider = desired_holders(settings, co_managed())
    assert [
        member[w] for w in (W.DEVICE_CONFIGURATION, W.RESOURCE_ACCESS, W.ENDPOINT_PROTECTION)
    ] == [
        CLOUD,
        CLOUD,
        CLOUD,
    ]
    assert [
        outsider[w] for w in (W.DEVICE_CONFIGURATION, W.RESOURCE_ACCESS, W.ENDPOINT_PROTECTION)
    ] == [CM, CM, CM]


def test_endpoint_protection_may_go_to_the_cloud_alone() -> None:
    holders = desired_holders(sliders(endpoint_protection=Slider.CLOUD), co_managed())
    assert holders[W.ENDPOINT_PROTECTION] is CLOUD
    assert holders[W.DEVICE_CONFIGURATION] is CM


def test_resource_access_follows_device_configuration_whatever_its_own_slider() -> None:
    alone = desired_holders(sliders(resource_access=Slider.CLOUD), co_managed())
    assert alone[W.RESOURCE_ACCESS] is CM
    both = sliders(resource_access=Slider.CLOUD, device_configuration=Slider.CLOUD)
    assert desired_holder(both, co_managed(), W.RESOURCE_ACCESS) is CLOUD


@given(
    st.dictionaries(
        st.sampled_from(ALL_WORKLOADS),
        st.sampled_from([(Slider.CONFIGMGR, None), (Slider.CLOUD, None), (Slider.PILOT, PILOT_A)]),
    ),
    st.frozensets(st.sampled_from([PILOT_A, PILOT_B])),
    st.booleans(),
)
def test_dependants_are_never_on_the_site_while_device_configuration_is_on_the_cloud(
    chosen: dict[Workload, tuple[Slider, str | None]],
    collections: frozenset[str],
    enrolled: bool,
) -> None:
    settings = CoManagementSettings(
        enabled=True,
        workloads={
            w: WorkloadSetting(slider=s, pilot_collection=c) for w, (s, c) in chosen.items()
        },
    )
    holders = desired_holders(settings, co_managed(*collections, mdm_enrolled=enrolled))
    assert holders[W.RESOURCE_ACCESS] is holders[W.DEVICE_CONFIGURATION]
    if holders[W.DEVICE_CONFIGURATION] is CLOUD:
        assert holders[W.ENDPOINT_PROTECTION] is CLOUD
    assert all(
        desired_holder(settings, co_managed(*collections, mdm_enrolled=enrolled), w) is h
        for w, h in holders.items()
    )
