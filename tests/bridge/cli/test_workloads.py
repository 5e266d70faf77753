"""`cobridge workloads`: settings at the site, the arbiter's records, force, through the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.ports import InMemorySide
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_database import create_site_engine
from tests.support.workloads_cli import DEVICE, config, run
from workloads.catalog import Holder, Workload
from workloads.handoff import Phase
from workloads.settings import Slider

__all__ = ["config"]  # the fixture, from the support module


def site_settings(config: Path) -> object:
    """The settings stored at the site."""
    engine = create_site_engine(ConnectorSettings.load(config).site.url())
    try:
        return EmbeddedSiteAuthority(engine).read_settings()
    finally:
        engine.dispose()


def test_set_writes_the_site_settings_and_refuses_what_is_invalid(config: Path) -> None:
    code, out = run(
        "workloads", "co-management", "--config", str(config), "--enabled", "--by", "ana"
    )
    assert code == 0, out
    code, out = run("workloads", "set", "compliance", "cloud", "--config", str(config))
    assert code == 0, out
    assert "Compliance policies: cloud" in out
    code, out = run(
        "workloads",
        "set",
        "client-apps",
        "pilot",
        "--pilot-collection",
        "PS100014",
        "--config",
        str(config),
    )
    assert code == 0, out
    stored = site_settings(config)
    assert stored.enabled is True
    assert stored.setting(Workload.COMPLIANCE).slider is Slider.CLOUD
    client_apps = stored.setting(Workload.CLIENT_APPS)
    assert (client_apps.slider, client_apps.pilot_collection) == (Slider.PILOT, "PS100014")

    code, out = run("workloads", "set", "office-apps", "pilot", "--config", str(config))
    assert code != 0
    assert "collection" in out
    assert "Traceback" not in out
    assert site_settings(config).setting(Workload.OFFICE_APPS).slider is Slider.CONFIGMGR
    code, out = run("workloads", "set", "printers", "cloud", "--config", str(config))
    assert code == 2
    assert "not a workload" in out

    code, out = run("workloads", "show", "--config", str(config), "--json")
    assert code == 0, out
    shown = json.loads(out)
    assert any(r["value"] for r in shown["settings"])
    assert shown["records"] == {}


def test_force_ends_a_stalled_handoff_in_the_journal_with_who_and_why(config: Path) -> None:
    settings = ConnectorSettings.load(config)
    gates = {side: InMemorySide(side) for side in Holder}
    gates[Holder.CONFIGMGR].reachable = False
    with ConnectorState.open(None, data_dir=settings.data_dir) as state:
        arbiter = Arbiter(
            state,
            gates,
            clock=lambda: __import__("datetime").datetime.now(__import__("datetime").UTC),
        )
        asyncio.run(arbiter.reconcile({(DEVICE, Workload.COMPLIANCE): Holder.CLOUD}, complete=True))

    code, out = run(
        "workloads",
        "force",
        "--device",
        DEVICE,
        "--workload",
        "compliance",
        "--reason",
        "site server rebuilt",
        "--by",
        "ana",
        "--config",
        str(config),
    )
    assert code == 0, out
    assert "granting the cloud side at epoch 1" in out
    with ConnectorState.open(None, data_dir=settings.data_dir) as state:
        entry = state.authority.entries([DEVICE])[(DEVICE, Workload.COMPLIANCE)]
        assert entry.record.phase is Phase.GRANTING
        assert entry.record.fence is not None
        [(_, event)] = [
            e for e in state.authority_events.newest(smsid=DEVICE) if e[1].event == "forced"
        ]
    assert event.detail is not None
    assert (event.detail["by"], event.detail["reason"]) == ("cli:ana", "site server rebuilt")

    # A second force finds nothing stalled: a clear error, nothing changed.
    code, out = run(
        "workloads",
        "force",
        "--device",
        DEVICE,
        "--workload",
        "compliance",
        "--reason",
        "again",
        "--config",
        str(config),
    )
    assert code == 2
    assert "only a revoking handoff can be forced" in out
    code, out = run("workloads", "show", "--config", str(config))
    assert code == 0, out
    assert "Compliance policies" in out
