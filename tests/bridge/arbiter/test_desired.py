"""Desired holders from a site read equal the domain rule applied to each device."""

from __future__ import annotations

from pathlib import Path

from bridge.arbiter.desired import desired_from_read
from onprem.site_reader import SiteReader
from onprem.site_records import SiteDevice
from tests.support.sync_rig import seeded_site
from workloads.authority import DeviceFacts, desired_holders, is_co_managed
from workloads.catalog import Holder, Workload
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting


def test_the_bulk_path_equals_the_domain_rule_per_device(tmp_path: Path) -> None:
    engine = seeded_site(tmp_path / "site.db", 2000, seed=11)  # 2,000: every invalid kind
    settings = (
        CoManagementSettings(enabled=True)
        .with_workload(Workload.COMPLIANCE, WorkloadSetting(slider=Slider.CLOUD))
        .with_workload(
            Workload.DEVICE_CONFIGURATION,
            WorkloadSetting(slider=Slider.PILOT, pilot_collection="PS100014"),
        )
    )
    records = list(SiteReader(engine).read())
    engine.dispose()
    result = desired_from_read(settings, records)

    expected: dict[tuple[str, Workload], Holder] = {}
    co_managed = 0
    for r in records:
        if not isinstance(r, SiteDevice) or r.obsolete == 1 or r.decommissioned == 1:
            continue
        facts = DeviceFacts(  # validated, as the domain builds it
            agent_present=r.client == 1,
            mdm_enrolled=r.cm_mdm_enrolled == 1,
            comgmt_policy_present=r.cm_policy_present == 1,
            entra_joined=bool(r.cm_aad_joined or r.cm_hybrid_aad_joined),
            os_name=r.os_name,
            os_build=r.os_build,
            collection_ids=frozenset(r.collections),
        )
        co_managed += is_co_managed(facts)
        for workload, holder in desired_holders(settings, facts).items():
            if holder is Holder.CLOUD:
                expected[(r.smsid, workload)] = holder
    assert result.desired == expected
    assert result.co_managed == co_managed > 0
    workloads_on_cloud = {w for _, w in expected}
    # Pilot device configuration carried resource access and endpoint protection along.
    assert workloads_on_cloud == {
        Workload.COMPLIANCE,
        Workload.DEVICE_CONFIGURATION,
        Workload.RESOURCE_ACCESS,
        Workload.ENDPOINT_PROTECTION,
    }
    assert result.refused > 0, "the seeded site's invalid records are counted, not used"
