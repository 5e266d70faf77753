"""The workload catalog is the one home of every workload fact; everything else derives from it.

Two proofs that adding a workload is one edit: a catalog built in the test
through the product's own factory (`WorkloadCatalog`, `check_catalog`) gets
names, feature booleans, flag bits and dependants without another change;
and a copy of the `workloads` package whose catalog.py gains an eighth
member shows it in the CLI, the desired-state document, the contract, the
flags, the dependency rule, the settings summary and the site generator.
Then the consistency checks a catalog must pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.contract.authority_views import ClientEnabledFeatures, feature_booleans
from installer.demo.site_generator.catalog import pilot_collection_name, workload_flags
from tests.support.paths import REPO_ROOT
from workloads import flags
from workloads.catalog import (
    ALL_WORKLOADS,
    Carriage,
    CarriedBy,
    Workload,
    WorkloadCatalog,
    WorkloadFacts,
    check_catalog,
    with_dependants,
)
from workloads.errors import InconsistentCatalog, UnknownWorkload
from workloads.rollout.plan import DEPENDANTS

ROOT = REPO_ROOT
W = Workload
PRINTERS = WorkloadFacts(
    "printerPolicy",
    256,
    "Printer policies",
    "printers",
    carried_by=CarriedBy("deviceConfiguration", Carriage.TO_CLOUD),
)


def catalog(name: str, **extra: WorkloadFacts) -> type[WorkloadCatalog]:
    """The product's seven workloads plus `extra`, built and checked the way the product is."""
    members = {w.name: w.facts for w in Workload} | extra
    return check_catalog(WorkloadCatalog(name, members))  # type: ignore[arg-type]


# The product's catalog


def test_the_product_catalog_is_consistent_and_states_the_dependency_rule() -> None:
    assert check_catalog(Workload) is Workload
    assert W.DEVICE_CONFIGURATION.dependants == (W.RESOURCE_ACCESS, W.ENDPOINT_PROTECTION)
    assert W.RESOURCE_ACCESS.carrier is W.DEVICE_CONFIGURATION
    assert W.RESOURCE_ACCESS.carriage is Carriage.ALWAYS
    assert W.RESOURCE_ACCESS.retired
    assert W.ENDPOINT_PROTECTION.carriage is Carriage.TO_CLOUD
    assert [w for w in ALL_WORKLOADS if w.carrier is None] == [
        W.COMPLIANCE,
        W.DEVICE_CONFIGURATION,
        W.WINDOWS_UPDATE,
        W.CLIENT_APPS,
        W.OFFICE_APPS,
    ]
    assert frozenset({W.RESOURCE_ACCESS, W.ENDPOINT_PROTECTION}) == DEPENDANTS


def test_short_names_are_the_ones_admins_type() -> None:
    assert [w.alias for w in ALL_WORKLOADS] == [
        "compliance",
        "resource-access",
        "device-configuration",
        "windows-update",
        "endpoint-protection",
        "client-apps",
        "office-apps",
    ]
    assert W.named(" Windows-Update ") is W.WINDOWS_UPDATE
    assert W.named("OFFICEAPPS") is W.OFFICE_APPS
    assert W.named(W.CLIENT_APPS) is W.CLIENT_APPS
    assert len(W.names()) == 14


def test_an_unknown_name_is_a_value_error_listing_the_graph_names() -> None:
    with pytest.raises(UnknownWorkload) as caught:
        W.named("printers")
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        "'printers' is not a workload; use one of: compliancePolicy, resourceAccess, "
        "deviceConfiguration, windowsUpdateForBusiness, endpointProtection, modernApps, officeApps"
    )


def test_with_dependants_adds_what_the_carriers_carry_after_the_workloads_given() -> None:
    assert with_dependants([W.COMPLIANCE]) == [W.COMPLIANCE]
    assert with_dependants([W.ENDPOINT_PROTECTION, W.DEVICE_CONFIGURATION]) == [
        W.ENDPOINT_PROTECTION,
        W.DEVICE_CONFIGURATION,
        W.RESOURCE_ACCESS,
    ]


def test_the_contract_features_are_the_catalog_in_order_with_graph_names() -> None:
    wire = ClientEnabledFeatures.of({W.CLIENT_APPS}).wire()
    assert list(wire) == [w.feature_name for w in ALL_WORKLOADS]
    assert wire == {w.feature_name: w is W.CLIENT_APPS for w in ALL_WORKLOADS}


def test_the_generator_names_each_pilot_collection_after_the_display_name() -> None:
    assert pilot_collection_name(W.OFFICE_APPS) == "Co-management Pilot - Office Click-to-Run Apps"
    assert pilot_collection_name(W.COMPLIANCE) == "Co-management Pilot - Compliance Policies"
    # Device configuration's pilot brings what it carries.
    assert workload_flags(W.DEVICE_CONFIGURATION.flag) == 1 + 4 + 8 + 32
    assert workload_flags(W.ENDPOINT_PROTECTION.flag) == 1 + 32


# An eighth workload, through the same factory


def test_an_eighth_workload_gets_names_features_bits_and_dependants() -> None:
    eight = catalog("EightWorkloads", PRINTERS=PRINTERS)
    printers = eight("printerPolicy")
    assert eight.named("Printers") is printers
    assert eight.named("printerpolicy") is printers
    with pytest.raises(UnknownWorkload, match=r"modernApps, officeApps, printerPolicy$"):
        eight.named("scanners")

    features = feature_booleans(eight)
    assert list(features.model_fields)[-1] == "printer_policy"
    assert features.of({printers}).wire()["printerPolicy"] is True
    schema = features.model_json_schema(by_alias=True)
    assert list(schema["properties"])[-1] == "printerPolicy"

    assert flags.decode(1 | 2 | 256 | 0x1000, eight) == {printers, eight("compliancePolicy")}
    assert flags.unknown_bits(256 | 0x1000, eight) == 0x1000
    assert flags.unknown_bits(256 | 0x1000) == 256 | 0x1000  # the product has no bit 256
    assert flags.encode([printers]) == 257

    carrier = eight("deviceConfiguration")
    assert printers.carrier is carrier
    assert carrier.dependants[-1] is printers
    assert with_dependants([carrier])[-1] is printers
    assert pilot_collection_name(printers) == "Co-management Pilot - Printer Policies"  # type: ignore[arg-type]


# An eighth member in the product's own catalog.py: nothing else edited

_PROBE = """
import json
from click.exceptions import BadParameter
from bridge.cli.workloads_commands import WorkloadName
from cloud.contract.authority_views import ClientEnabledFeatures
from installer.demo.site_generator.catalog import pilot_collection_name, workload_flags
from onprem.authority.settings_text import settings_summary
from workloads import flags
from workloads.authority import DeviceFacts, desired_holders
from workloads.catalog import ALL_WORKLOADS, KNOWN_BITS, Workload
from workloads.rollout import parse_desired_state
from workloads.rollout.errors import DesiredStateError
from workloads.settings import CoManagementSettings, Slider, WorkloadSetting

printers = Workload.PRINTERS
try:
    WorkloadName().convert("nope", None, None)
except BadParameter as exc:
    cli_error = exc.message
try:
    parse_desired_state({"workloads": {"nope": {"slider": "cloud"}}})
except DesiredStateError as exc:
    document_error = str(exc)
document = parse_desired_state({"workloads": {"Printers": {"slider": "cloud"}}})
settings = CoManagementSettings(enabled=True).with_workload(
    Workload.DEVICE_CONFIGURATION, WorkloadSetting(slider=Slider.CLOUD)
)
facts = DeviceFacts(agent_present=True, mdm_enrolled=True, comgmt_policy_present=True)
print(json.dumps({
    "cli": WorkloadName().convert("printers", None, None).value,
    "cli_error": cli_error,
    "document": [w.value for w in document.workloads],
    "document_error": document_error,
    "features": list(ClientEnabledFeatures.model_json_schema(by_alias=True)["properties"]),
    "known_bits": KNOWN_BITS,
    "decoded": sorted(flags.decode(256 | 2)),
    "holder": desired_holders(settings, facts)[printers].value,
    "note": [r["note"] for r in settings_summary(settings) if r["key"] == "printerPolicy"],
    "pilot": pilot_collection_name(printers),
    "flags": workload_flags(Workload.DEVICE_CONFIGURATION.flag),
    "settings": len(CoManagementSettings().workloads),
}))
"""


def test_an_eighth_member_in_catalog_py_reaches_every_derived_place(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "workloads", tmp_path / "workloads", ignore=shutil.ignore_patterns("__pycache__")
    )
    source = tmp_path / "workloads" / "catalog.py"
    text = source.read_text()
    anchor = '    OFFICE_APPS = WorkloadFacts("officeApps", 128, "Office Click-to-Run apps", "office-apps")\n'
    assert anchor in text
    member = (
        '    PRINTERS = WorkloadFacts("printerPolicy", 256, "Printer policies", "printers", '
        'carried_by=CarriedBy("deviceConfiguration", Carriage.TO_CLOUD))\n'
    )
    source.write_text(text.replace(anchor, anchor + member))
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    run = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["cli"] == "printerPolicy"
    assert seen["cli_error"].endswith("office-apps, printers, resource-access, windows-update")
    assert seen["document"] == ["printerPolicy"]
    assert "officeApps, printerPolicy\n" in seen["document_error"]
    assert "office-apps, printers (or their Graph names)" in seen["document_error"]
    assert seen["features"][-2:] == ["officeApps", "printerPolicy"]
    assert seen["known_bits"] == 511
    assert seen["decoded"] == ["compliancePolicy", "printerPolicy"]
    assert seen["holder"] == "cloud"  # carried to the cloud by Device configuration
    assert seen["note"] == ["on the cloud with Device configuration"]
    assert seen["pilot"] == "Co-management Pilot - Printer Policies"
    assert seen["flags"] == 1 + 4 + 8 + 32 + 256
    assert seen["settings"] == 8


# Consistency checks


def _facts(feature: str, flag: int, alias: str, **more: object) -> WorkloadFacts:
    return WorkloadFacts(feature, flag, more.pop("display", feature.title()), alias, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"TWIN": _facts("twinPolicy", 2, "twin")}, "the flag 2 is given twice"),
        ({"TWIN": _facts("twinPolicy", 256, "compliance")}, "the name 'compliance' is given twice"),
        (
            {"TWIN": _facts("twinPolicy", 256, "modernapps")},
            "the name 'modernapps' is given twice",
        ),
        (
            {"TWIN": _facts("twinPolicy", 256, "twin", display="Client apps")},
            "the display name 'Client apps' is given twice",
        ),
        ({"TWIN": _facts("officeApps", 256, "twin")}, "a Graph feature name is given to two"),
        ({"TWIN": _facts("twinPolicy", 1, "twin")}, "flag 1 is not a single bit above 1"),
        ({"TWIN": _facts("twinPolicy", 384, "twin")}, "flag 384 is not a single bit above 1"),
        ({"TWIN": _facts("TwinPolicy", 256, "twin")}, "is not a camelCase Graph feature name"),
        ({"TWIN": _facts("t" * 33, 256, "twin")}, "of at most 32 characters"),
        ({"TWIN": _facts("twinPolicy", 256, "Twin Apps")}, "'Twin Apps' is not kebab-case"),
        (
            {
                "TWIN": _facts(
                    "twinPolicy", 256, "twin", carried_by=CarriedBy("scanners", Carriage.ALWAYS)
                )
            },
            "its carrier 'scanners' is no workload",
        ),
        (
            {
                "TWIN": _facts(
                    "twinPolicy", 256, "twin", carried_by=CarriedBy("twinPolicy", Carriage.ALWAYS)
                )
            },
            "twinPolicy carries itself",
        ),
        (
            {
                "PING": _facts(
                    "pingPolicy", 256, "ping", carried_by=CarriedBy("pongPolicy", Carriage.ALWAYS)
                ),
                "PONG": _facts(
                    "pongPolicy", 512, "pong", carried_by=CarriedBy("pingPolicy", Carriage.TO_CLOUD)
                ),
            },
            "the carriers of pingPolicy, pongPolicy form a cycle",
        ),
    ],
)
def test_an_inconsistent_catalog_is_refused(extra: dict[str, WorkloadFacts], problem: str) -> None:
    with pytest.raises(InconsistentCatalog, match=problem):
        catalog("Broken", **extra)


def test_a_feature_name_whose_wire_name_would_change_is_refused() -> None:
    esim = catalog("WithEsim", ESIM=_facts("eSIM", 256, "esim"))
    with pytest.raises(InconsistentCatalog, match="'eSIM' does not survive snake_case"):
        feature_booleans(esim)
