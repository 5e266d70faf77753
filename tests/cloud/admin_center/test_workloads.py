"""The workloads page and the device detail's authority over HTTP, on SQLite and PostgreSQL.

A tenant's connector ingests devices, sends the cloud gate grants and revokes,
and reports its arbiter's records through the real client; the pages must
show exactly what the API's `GET /api/v1/workloads` and
`GET /api/v1/devices/{id}/authority` answer for the same tenant, and nothing
of another tenant's.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from cloud.contract.admin import Role
from cloud.contract.authority_views import WorkloadAuthorityOut
from tests.support.admin_center import new_session
from tests.support.admin_pages import page, signed_in
from tests.support.authority_world import grant, state
from tests.support.cloud_service import RunningService
from tests.support.reported_tenant import CONFIG, NUMBERS, OFFICE, WU, C, reported_tenant
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client
from workloads.catalog import ALL_WORKLOADS, Holder

MODULE = pytest.mark.asyncio(loop_scope="module")
HOLDER_TEXT = {Holder.CONFIGMGR: "Site", Holder.CLOUD: "Cloud"}


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


service = shared_service  # one service per module and backend


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
