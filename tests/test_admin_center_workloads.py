"""The workloads page and the device detail's authority over HTTP, on SQLite and PostgreSQL.

A tenant's connector ingests devices, sends the cloud gate grants and revokes,
and reports its arbiter's records through the real client; the pages must
show exactly what the API's `GET /api/v1/workloads` and
`GET /api/v1/devices/{id}/authority` answer for the same tenant, and nothing
of another tenant's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
import pytest_asyncio
import sqlalchemy as sa

from cloud.contract.admin import Role
from cloud.contract.authority import AuthorityCommand, AuthorityState
from cloud.contract.authority_views import WorkloadAuthorityOut
from cloud.service import bootstrap
from tests.admin_center import Tenant, new_session, tenant_with_users
from tests.authority_world import aad, grant, revoke, state
from tests.cloud_fixtures import batch, record
from tests.cloud_service import RunningService, start_service
from tests.held_deletes import admin_client, connector_for
from tests.test_admin_center_pages import page, signed_in
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.handoff import Phase

MODULE = pytest.mark.asyncio(loop_scope="module")
C, APPS, OFFICE, CONFIG, WU = (
    Workload.COMPLIANCE,
    Workload.CLIENT_APPS,
    Workload.OFFICE_APPS,
    Workload.DEVICE_CONFIGURATION,
    Workload.WINDOWS_UPDATE,
)
HOLDER_TEXT = {Holder.CONFIGMGR: "Site", Holder.CLOUD: "Cloud"}
# Device 5 is never reported: every workload on the site at epoch 0.
NUMBERS = [1, 2, 3, 4, 5]
COMMANDS = [grant(1, C, 1), grant(3, OFFICE, 1), grant(3, CONFIG, 2), revoke(3, CONFIG, 3)]
STATES = [
    state(1, C, 1, holder=Holder.CLOUD, desired=Holder.CLOUD),
    state(1, APPS, 0),
    state(2, C, 1, phase=Phase.REVOKING, target=Holder.CLOUD, desired=Holder.CLOUD),
    # The arbiter says the cloud holds, the gate has no grant: the service's conflict.
    state(2, CONFIG, 2, holder=Holder.CLOUD, desired=Holder.CLOUD),
    # Drift the arbiter observed itself.
    state(3, C, 2, conflict="site_applying_without_grant"),
    # The site holds at 1 by the record, yet the cloud gate holds at 1.
    state(3, OFFICE, 1),
    # The gate is ahead of the report (revoked at 3): a handoff, not drift.
    state(3, CONFIG, 2, holder=Holder.CLOUD, desired=Holder.CONFIGMGR),
    state(4, WU, 3, holder=None, phase=Phase.GRANTING, target=Holder.CLOUD, desired=Holder.CLOUD),
]


@dataclass
class Reported:
    """A tenant with users of each role, an admin token, and devices whose authority was reported."""

    tenant: Tenant
    token: str
    device_ids: dict[int, str]  # device number -> device id


async def reported_tenant(
    service: RunningService,
    hierarchy_id: str = "H-PS1",
    numbers: list[int] = NUMBERS,
    commands: list[AuthorityCommand] = COMMANDS,
    states: list[AuthorityState] = STATES,
) -> Reported:
    """A new tenant whose connector ingested `numbers`, sent `commands` and reported `states`."""
    tenant = await tenant_with_users(service.state)
    _, token = await bootstrap.create_token(
        service.state, tenant.tenant_id, tenant.user(Role.ADMIN), 30
    )
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, hierarchy_id)
        async with enrolled.client as connector:
            await connector.ingest(
                batch(hierarchy_id, 1, [record(n, aad_device_id=aad(n)) for n in numbers])
            )
            if commands:
                await connector.authority_commands(commands)
            if states:
                await connector.report_authority(states)
        ids = {int(str(d["smsid"])[5:13], 16): str(d["id"]) async for d in admin.iter_devices()}
    return Reported(tenant, token, ids)


class Rows(HTMLParser):
    """The text of each cell of rows marked `data-workload`, by the cell's data-kind/data-field."""

    def __init__(self, table_class: str) -> None:
        super().__init__()
        self.table_class, self.in_table = table_class, False
        self.rows: dict[str, dict[str, str]] = {}
        self.row: str | None = None
        self.cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.in_table = self.table_class in (a.get("class") or "").split()
        elif self.in_table and tag == "tr" and a.get("data-workload"):
            self.row = str(a["data-workload"])
            self.rows[self.row] = {}
        elif self.row and tag == "td":
            self.cell = a.get("data-kind") or a.get("data-field")
            if self.cell:
                self.rows[self.row][self.cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.cell = None
        elif tag == "table":
            self.in_table, self.row = False, None

    def handle_data(self, data: str) -> None:
        if self.row and self.cell:
            self.rows[self.row][self.cell] += data


def rows_of(html: str, table_class: str) -> dict[str, dict[str, str]]:
    """{workload: {cell: text}} of the page's table of `table_class` (whitespace collapsed)."""
    parser = Rows(table_class)
    parser.feed(html)
    return {w: {k: " ".join(v.split()) for k, v in r.items()} for w, r in parser.rows.items()}


def expected_cells(w: WorkloadAuthorityOut) -> dict[str, str]:
    """What the device page must print for one workload of the API's answer."""
    if w.reported_at is None:
        holder, epoch, phase = "Site never handed off", 0, "held"
    else:
        holder = HOLDER_TEXT[w.holder] if w.holder else "none in handoff"
        epoch = w.epoch
        phase = w.phase.value + (f" → {HOLDER_TEXT[w.target]}" if w.target else "")
    grant_text = "holds" if w.cloud_grant.holds else "no grant"
    return {
        "holder": holder,
        "epoch": str(epoch),
        "phase": phase,
        "desired": HOLDER_TEXT[w.desired] if w.desired else "—",
        "grant": f"{grant_text}, epoch {w.cloud_grant.epoch}",
        "reported": w.reported_at.strftime("%Y-%m-%d %H:%M UTC") if w.reported_at else "—",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(
    module_store: tuple[sa.URL, sa.URL], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    """The cloud service over HTTPS, shared by the module's tests on each backend."""
    async for running in start_service(module_store, tmp_path_factory.mktemp("cloud")):
        yield running


@MODULE
async def test_the_workloads_page_shows_the_apis_counts(service: RunningService) -> None:
    world = await reported_tenant(service)
    # Another tenant's records must not be counted.
    await reported_tenant(service, "H-OTHER", [1, 2], [grant(1, C, 1)], [state(2, C, 1)])
    async with admin_client(service, world.token) as admin:
        api = {w.workload.value: w for w in (await admin.workload_counts()).value}
    async with await signed_in(service, world.tenant, Role.VIEWER) as http:
        status, html = await page(http, f"{service.api_url}/workloads")
    assert status == 200
    table = rows_of(html, "workloads")
    assert list(table) == [w.value for w in ALL_WORKLOADS]
    for workload, counts in api.items():
        assert table[workload] == {
            "configmgr": str(counts.counts.configmgr),
            "cloud": str(counts.counts.cloud),
            "in_handoff": str(counts.counts.in_handoff),
            "conflicts": str(counts.conflicts),
            "cloud_grants": str(counts.cloud_grants),
        }, workload
    # The scenario's own numbers, so that an empty answer on both sides cannot pass.
    assert table[C] == {
        "configmgr": "1",
        "cloud": "1",
        "in_handoff": "1",
        "conflicts": "1",
        "cloud_grants": "1",
    }
    assert (table[CONFIG]["cloud"], table[CONFIG]["conflicts"]) == ("2", "1")
    assert table[WU]["in_handoff"] == "1"
    for w in ALL_WORKLOADS:
        assert f"{w.display_name} <span" in html
        assert f'<tr data-workload="{w.value}">' in html
    bits = re.findall(r"<td><code>(\d+)</code></td>", html)
    assert bits == [str(w.flag) for w in ALL_WORKLOADS], "flag bits, in catalog order"

    # The chart: an image with a name and a description, its numbers printed beside the bars.
    assert re.search(
        r'role="img" aria-labelledby="chart-title" aria-describedby="chart-summary"', html
    )
    assert '<h2 id="chart-title">Devices per holder, per workload</h2>' in html
    assert "Compliance policies: site 1, cloud 1, in handoff 1." in html
    assert "Windows Update policies: site 0, cloud 0, in handoff 1." in html
    bars = re.findall(
        r'<div class="bar-row" data-workload="compliancePolicy">(.*?)</div>\s*</div>', html, re.S
    )
    assert len(bars) == 1
    drawn = re.findall(r'class="seg (\w+)" x="([\d.]+)%" width="([\d.]+)%"', bars[0])
    # Compliance has the longest bar (3 records): each of its records is a third of it.
    assert [k for k, _, _ in drawn] == ["configmgr", "cloud", "in_handoff"]
    starts = [float(x) for _, x, _ in drawn]
    assert all(abs(x - e) < 0.01 for x, e in zip(starts, (0, 100 / 3, 200 / 3), strict=True))
    assert all(abs(float(width) - 100 / 3) < 0.01 for _, _, width in drawn)
    numbers = re.findall(r'data-kind="(\w+)">\w+(?: \w+)? <strong>(\d+)</strong>', bars[0])
    assert numbers == [("configmgr", "1"), ("cloud", "1"), ("in_handoff", "1")]
    assert '<h2 id="rollout-title">Rollout progress</h2>' in html


@MODULE
async def test_the_device_detail_shows_the_apis_authority(service: RunningService) -> None:
    world = await reported_tenant(service)
    async with (
        admin_client(service, world.token) as admin,
        await signed_in(service, world.tenant, Role.VIEWER) as http,
    ):
        for n in NUMBERS:
            api = await admin.device_authority(world.device_ids[n])
            status, html = await page(http, f"{service.api_url}/devices/{world.device_ids[n]}")
            assert status == 200
            assert '<h2 id="authority-title">Co-management authority</h2>' in html
            table = rows_of(html, "authority")
            assert list(table) == [w.workload.value for w in api.value], n
            for w in api.value:
                cells = dict(table[w.workload.value])
                conflict = cells.pop("conflict")
                assert cells == expected_cells(w), (n, w.workload)
                expected = [f"arbiter: {w.conflict}"] if w.conflict else []
                expected += [f"service: {w.gate_conflict} ("] if w.gate_conflict else []
                for shown in expected:
                    assert shown in conflict, (n, w.workload)
                if not expected:
                    assert conflict == "none", (n, w.workload)
            never = "No workload of this device was ever handed off" in html
            assert never == (n == 5), n
            if n == 2:
                config = table[CONFIG.value]
                assert "cloud_gate_lacks_grant" in config["conflict"]
                assert table[C.value]["phase"] == "revoking → Cloud"
            if n == 3:
                assert "arbiter: site_applying_without_grant" in table[C.value]["conflict"]
                assert "service: cloud_gate_holds_for_site" in table[OFFICE.value]["conflict"]
                assert table[OFFICE.value]["grant"] == "holds, epoch 1"
            if n == 4:
                assert table[WU.value]["holder"] == "none in handoff"
                assert table[WU.value]["phase"] == "granting → Cloud"
            if n == 5:
                assert {c["holder"] for c in table.values()} == {"Site never handed off"}
                assert {c["epoch"] for c in table.values()} == {"0"}


@MODULE
async def test_another_tenants_device_is_not_found(service: RunningService) -> None:
    a = await reported_tenant(service, "H-A")
    b = await reported_tenant(service, "H-B", [7], [grant(7, C, 1)], [state(7, C, 1)])
    async with await signed_in(service, a.tenant, Role.ADMIN) as http:
        status, html = await page(http, f"{service.api_url}/devices/{b.device_ids[7]}")
        assert status == 404
        assert "No such device" in html
        status, _ = await page(http, f"{service.api_url}/devices/{a.device_ids[1]}")
        assert status == 200
    async with await signed_in(service, b.tenant, Role.VIEWER) as http:
        _, html = await page(http, f"{service.api_url}/workloads")
    table = rows_of(html, "workloads")
    assert table[C]["configmgr"] == "1", "B's own record"
    assert table[C]["cloud"] == "0", "A's cloud-held compliance is not B's"
    assert sum(int(r["in_handoff"]) for r in table.values()) == 0


@MODULE
async def test_a_viewer_reads_both_pages_with_no_form_but_sign_out(
    service: RunningService,
) -> None:
    world = await reported_tenant(service)
    http = await signed_in(service, world.tenant, Role.VIEWER)
    async with http:
        for path in ("/workloads", f"/devices/{world.device_ids[3]}"):
            status, html = await page(http, f"{service.api_url}{path}")
            assert status == 200, path
            forms = re.findall(r"<form\b[^>]*>", html)
            assert len(forms) == 1, path
            assert 'action="/sign-out"' in forms[0], path
            assert re.findall(r"<button\b[^>]*>([^<]*)</button>", html) == ["Sign out"], path
            assert "<script" not in html, path
    async with new_session() as anonymous:
        status, _ = await page(anonymous, f"{service.api_url}/workloads")
        assert status == 303, "signed out: sent to the sign-in page"
