"""The site's co-management settings in the embedded site store, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.authority.settings_text import parse_settings, settings_summary
from onprem.errors import InvalidCoManagementSettings
from onprem.site_schema import cobridge_comanagement_settings, cobridge_workload_settings
from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.settings import (
    AutoEnrollment,
    CoManagementSettings,
    EnrollmentScope,
    Slider,
    WorkloadSetting,
)

T1 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
ADMIN = "admin@contoso.example"
AUTOMATION = "rollout automation"


@pytest.fixture
def authority(site_engine: sa.Engine) -> EmbeddedSiteAuthority:
    return EmbeddedSiteAuthority(site_engine)


def _rows(engine: sa.Engine, table: sa.Table) -> dict[str, dict]:
    with engine.connect() as conn:
        key = table.primary_key.columns.values()[0].name
        return {str(r._mapping[key]): dict(r._mapping) for r in conn.execute(sa.select(table))}


def _example() -> CoManagementSettings:
    return parse_settings(
        {
            "enabled": True,
            "auto_enrollment": {"scope": "pilot", "collection": "ps100014"},
            "workloads": {
                "compliancePolicy": {"slider": "cloud"},
                "deviceConfiguration": {"slider": "pilot", "pilot_collection": "PS100020"},
            },
        }
    )


def test_a_fresh_store_has_the_defaults_and_no_rows(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    settings = authority.read_settings()
    assert settings.enabled is False
    assert settings.auto_enrollment.scope is EnrollmentScope.NONE
    assert all(settings.setting(w).slider is Slider.CONFIGMGR for w in ALL_WORKLOADS)
    assert _rows(site_engine, cobridge_comanagement_settings) == {}
    assert _rows(site_engine, cobridge_workload_settings) == {}


def test_settings_round_trip(authority: EmbeddedSiteAuthority) -> None:
    settings = _example()
    authority.write_settings(settings, changed_by=ADMIN, now=T1)
    read = authority.read_settings()
    assert read == settings
    assert read.auto_enrollment == AutoEnrollment(
        scope=EnrollmentScope.PILOT, collection="PS100014"
    )
    assert read.setting(Workload.DEVICE_CONFIGURATION).pilot_collection == "PS100020"
    assert read.setting(Workload.COMPLIANCE).slider is Slider.CLOUD


def test_only_changed_rows_are_stamped(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    authority.write_settings(_example(), changed_by=ADMIN, now=T1)
    moved = _example().with_workload(Workload.CLIENT_APPS, WorkloadSetting(slider=Slider.CLOUD))
    authority.write_settings(moved, changed_by=AUTOMATION, now=T2)
    workloads = _rows(site_engine, cobridge_workload_settings)
    # Workloads left at their default were never written.
    assert set(workloads) == {"compliancePolicy", "deviceConfiguration", "modernApps"}
    assert workloads["compliancePolicy"]["changed_by"] == ADMIN
    assert workloads["modernApps"]["changed_by"] == AUTOMATION
    assert workloads["modernApps"]["changed_at"] == T2.replace(tzinfo=None)
    main = _rows(site_engine, cobridge_comanagement_settings)["1"]
    assert (main["changed_by"], main["changed_at"]) == (ADMIN, T1.replace(tzinfo=None))
    assert authority.read_settings() == moved


def test_writing_the_same_settings_changes_no_stamp(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    authority.write_settings(_example(), changed_by=ADMIN, now=T1)
    before = _rows(site_engine, cobridge_workload_settings)
    authority.write_settings(_example(), changed_by=AUTOMATION, now=T2)
    assert _rows(site_engine, cobridge_workload_settings) == before


def test_moving_a_slider_back_to_the_site_is_stored(authority: EmbeddedSiteAuthority) -> None:
    authority.write_settings(_example(), changed_by=ADMIN, now=T1)
    back = _example().with_workload(Workload.COMPLIANCE, WorkloadSetting()).with_enabled(False)
    authority.write_settings(back, changed_by=ADMIN, now=T2)
    assert authority.read_settings() == back


def test_pilot_without_collection_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InvalidCoManagementSettings) as caught:
        parse_settings({"workloads": {"compliancePolicy": {"slider": "pilot"}}})
    assert "workloads.compliancePolicy" in caught.value.message
    assert "needs a pilot collection" in caught.value.message
    with pytest.raises(InvalidCoManagementSettings, match="auto_enrollment"):
        parse_settings({"auto_enrollment": {"scope": "pilot"}})


def test_unknown_workload_or_bad_collection_in_a_document_is_refused() -> None:
    with pytest.raises(InvalidCoManagementSettings, match="cloudPrinting"):
        parse_settings({"workloads": {"cloudPrinting": {"slider": "cloud"}}})
    with pytest.raises(InvalidCoManagementSettings, match="not a collection id"):
        parse_settings({"workloads": {"officeApps": {"slider": "pilot", "pilot_collection": "x"}}})


def test_settings_built_without_validation_never_reach_the_store(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    broken = WorkloadSetting.model_construct(slider=Slider.PILOT, pilot_collection=None)
    settings = CoManagementSettings().with_workload(Workload.COMPLIANCE, WorkloadSetting())
    settings = settings.model_copy(
        update={"workloads": {**settings.workloads, Workload.COMPLIANCE: broken}}
    )
    with pytest.raises(InvalidCoManagementSettings, match="pilot collection"):
        authority.write_settings(settings, changed_by=ADMIN, now=T1)
    assert _rows(site_engine, cobridge_workload_settings) == {}


def test_a_change_needs_who_made_it(authority: EmbeddedSiteAuthority) -> None:
    with pytest.raises(InvalidCoManagementSettings, match="changed_by"):
        authority.write_settings(_example(), changed_by="  ", now=T1)
    assert authority.read_settings() == CoManagementSettings()


def test_rows_of_an_unknown_workload_are_ignored_and_kept(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    future = {"workload": "cloudPrinting", "slider": "cloud", "pilot_collection": None}
    with site_engine.begin() as conn:
        conn.execute(
            cobridge_workload_settings.insert(),
            [future | {"changed_by": ADMIN, "changed_at": T1.replace(tzinfo=None)}],
        )
    assert authority.read_settings() == CoManagementSettings()
    authority.write_settings(_example(), changed_by=ADMIN, now=T2)
    assert _rows(site_engine, cobridge_workload_settings)["cloudPrinting"]["slider"] == "cloud"
    assert authority.read_settings() == _example()


def test_invalid_stored_rows_are_reported_not_guessed(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    with site_engine.begin() as conn:
        conn.execute(
            cobridge_workload_settings.insert(),
            [
                {
                    "workload": "officeApps",
                    "slider": "pilot",
                    "pilot_collection": None,
                    "changed_by": ADMIN,
                    "changed_at": T1.replace(tzinfo=None),
                }
            ],
        )
    with pytest.raises(InvalidCoManagementSettings, match="site store holds") as caught:
        authority.read_settings()
    assert "workloads.officeApps" in caught.value.message


def test_summary_lists_every_setting_with_the_dependency_rule() -> None:
    rows = {row["key"]: row for row in settings_summary(_example())}
    assert list(rows) == ["coManagement", "autoEnrollment", *(w.value for w in ALL_WORKLOADS)]
    assert rows["coManagement"]["value"] == "Enabled"
    assert (rows["autoEnrollment"]["value"], rows["autoEnrollment"]["collection"]) == (
        "Pilot",
        "PS100014",
    )
    assert rows["compliancePolicy"]["value"] == "Cloud"
    assert rows["deviceConfiguration"]["collection"] == "PS100020"
    assert rows["deviceConfiguration"]["name"] == "Device configuration"
    assert rows["endpointProtection"]["value"] == "Configuration Manager"
    assert "PS100020" in (rows["endpointProtection"]["note"] or "")
    assert "follows Device configuration" in (rows["resourceAccess"]["note"] or "")
    assert rows["officeApps"]["note"] is None


def test_summary_of_the_defaults_says_everything_stays_on_the_site() -> None:
    rows = settings_summary(CoManagementSettings())
    assert rows[0]["value"] == "Disabled"
    assert rows[0]["note"] == "every workload stays on the site"
    assert rows[1]["value"] == "None"
    assert {row["value"] for row in rows[2:]} == {"Configuration Manager"}
    assert all(row["collection"] is None for row in rows)
