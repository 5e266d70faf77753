"""The workload catalog and the CoManagementFlags integer (DOMAIN.md golden values)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workloads import flags
from workloads.catalog import ALL_WORKLOADS, CO_MANAGEMENT_CONFIGURED, KNOWN_BITS, Holder, Workload
from workloads.errors import CobridgeError, InvalidFlags

W = Workload


def test_catalog_is_the_seven_workloads_in_domain_order_and_bit_order() -> None:
    assert [(w.display_name, w.flag, w.feature_name) for w in ALL_WORKLOADS] == [
        ("Compliance policies", 2, "compliancePolicy"),
        ("Resource access policies", 4, "resourceAccess"),
        ("Device configuration", 8, "deviceConfiguration"),
        ("Windows Update policies", 16, "windowsUpdateForBusiness"),
        ("Endpoint Protection", 32, "endpointProtection"),
        ("Client apps", 64, "modernApps"),
        ("Office Click-to-Run apps", 128, "officeApps"),
    ]
    assert CO_MANAGEMENT_CONFIGURED == 1
    assert KNOWN_BITS == 255


def test_workload_value_is_the_graph_feature_name() -> None:
    assert Workload("modernApps") is W.CLIENT_APPS
    assert str(W.WINDOWS_UPDATE) == "windowsUpdateForBusiness"


def test_holder_other_side() -> None:
    assert Holder.CONFIGMGR.other is Holder.CLOUD
    assert Holder.CLOUD.other is Holder.CONFIGMGR


def test_golden_all_on_the_site_is_1() -> None:
    assert flags.encode(()) == 1
    assert flags.decode(1) == frozenset()


def test_golden_compliance_and_client_apps_on_the_cloud_is_67() -> None:
    assert flags.encode({W.COMPLIANCE, W.CLIENT_APPS}) == 67
    assert flags.decode(67) == {W.COMPLIANCE, W.CLIENT_APPS}


def test_golden_everything_on_the_cloud_is_255() -> None:
    assert flags.encode(ALL_WORKLOADS) == 255
    assert flags.decode(255) == set(ALL_WORKLOADS)


@pytest.mark.parametrize("extra", [0x1000, 0x2000, 0x3000])
def test_unknown_high_bits_are_tolerated_and_reported_for_display(extra: int) -> None:
    assert flags.decode(67 | extra) == {W.COMPLIANCE, W.CLIENT_APPS}
    assert flags.is_configured(67 | extra)
    assert flags.unknown_bits(67 | extra) == extra
    assert flags.unknown_bits(67) == 0


def test_configured_bit() -> None:
    assert not flags.is_configured(0)
    assert flags.is_configured(1)
    assert not flags.is_configured(0x1000 | 2)


@pytest.mark.parametrize("bad", [-1, -256, 1.0, "67", None, True])
def test_negative_or_non_integer_flags_are_a_project_error(bad: object) -> None:
    with pytest.raises(InvalidFlags) as caught:
        flags.decode(bad)  # type: ignore[arg-type]
    assert isinstance(caught.value, CobridgeError)
    assert "flags" in str(caught.value)
    with pytest.raises(InvalidFlags):
        flags.unknown_bits(bad)  # type: ignore[arg-type]


@given(st.frozensets(st.sampled_from(ALL_WORKLOADS)))
def test_encode_decode_round_trip(cloud_held: frozenset[Workload]) -> None:
    encoded = flags.encode(cloud_held)
    assert encoded & CO_MANAGEMENT_CONFIGURED
    assert flags.decode(encoded) == cloud_held
    assert flags.unknown_bits(encoded) == 0


@given(st.integers(min_value=0, max_value=2**40))
def test_decode_then_encode_keeps_known_bits_and_the_configured_bit(value: int) -> None:
    decoded = flags.decode(value)
    assert flags.encode(decoded) == (value & 0xFE) | 1
    assert (flags.encode(decoded) | flags.unknown_bits(value) | (value & 1)) == value | 1
