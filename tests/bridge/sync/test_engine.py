"""The sync engine against the real cloud service over HTTPS (DESIGN.md sections 5 and 6).

Each test attaches a connector for a seeded embedded site to a new tenant and
checks what the tenant ends up holding against the site itself: the SMSIDs
of every live, valid record less what the connector quarantined.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from bridge.sync.engine import SITE
from bridge.tenant.errors import CloudApiError
from installer.demo.site_generator import touch_site
from onprem.errors import SiteReadFailed
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_schema import v_R_System
from tests.support.cloud_service import RunningService
from tests.support.pg import throwaway_pg_database
from tests.support.sync_rig import AS_OF, Rig, attach, close, seeded_site

DEVICES = 600


@pytest_asyncio.fixture
async def rig(service: RunningService, tmp_path: Path) -> AsyncIterator[Rig]:
    site = seeded_site(tmp_path / "site.db", DEVICES)
    attached = await attach(service, site, tmp_path / "connector")
    try:
        yield attached
    finally:
        await close(attached)
        site.dispose()


@pytest.mark.asyncio
async def test_full_sync_then_delta_leave_the_tenant_equal_to_the_site(rig: Rig) -> None:
    engine = rig.engine(batch_size=100, in_flight=3)
    first = await engine.run_cycle()
    assert (first.kind, first.outcome) == ("full", "ok"), first.error
    assert first.counts["batches"] >= 5  # several batches, several in flight
    assert await rig.tenant_smsids() == rig.expected_smsids()
    assert first.counts["upserted"] == first.counts["uploads"] == len(rig.expected_smsids())

    touched = touch_site(rig.site, devices=40, seed=9, as_of=AS_OF)
    second = await engine.run_cycle()
    assert (second.kind, second.outcome) == ("delta", "ok"), second.error
    assert await rig.tenant_smsids() == rig.expected_smsids()
    assert second.counts["deletes_sent"] == len(touched.deleted)
    # Only what changed travels: the rest is recognised by its hash.
    assert second.counts["uploads"] <= len(touched.modified) + len(touched.added)
    assert second.counts["unchanged"] >= first.counts["uploads"] - 40 - len(touched.deleted)

    third = await engine.run_cycle()
    assert third.counts["uploads"] == third.counts["batches"] == 0


@pytest.mark.asyncio
async def test_rejected_rows_are_quarantined_never_deleted_and_released_when_fixed(
    rig: Rig,
) -> None:
    first = await rig.engine().run_cycle()
    assert sum(rig.state.quarantine.counts(SITE).values()) == first.counts["rejected"]
    # A device the tenant holds whose row turns invalid stays: bad input loses nothing.
    victim = rig.live_rows(1)[0]
    smsid = victim.SMS_Unique_Identifier0.upper()
    before = await rig.tenant_smsids()
    assert smsid in before

    def rename(name: str) -> None:
        with rig.site.begin() as conn:
            conn.execute(
                v_R_System.update()
                .where(v_R_System.c.ResourceID == victim.ResourceID)
                .values(Name0=name)
            )

    rename("")
    again = await rig.engine().run_cycle()
    assert again.outcome == "ok"
    assert again.counts["rejected"] == first.counts["rejected"] + 1
    assert again.counts["deletes_sent"] == 0
    assert await rig.tenant_smsids() == before
    [entry] = [e for e in rig.state.quarantine.entries(SITE) if e.resource_id == victim.ResourceID]
    assert entry.reason == "empty_value"

    rename("WKS-FIXED-01")
    fixed = await rig.engine().run_cycle()
    assert fixed.counts["rejected"] == first.counts["rejected"]
    assert fixed.counts["uploads"] == 1
    assert all(e.resource_id != victim.ResourceID for e in rig.state.quarantine.entries(SITE))


class FailingReader(SiteReader):
    """A reader whose read breaks off after `after` records, as a dropped connection does."""

    def __init__(self, engine: sa.Engine, after: int) -> None:
        super().__init__(engine, chunk_size=100)
        self._after = after

    def read(self, scope=None):  # type: ignore[no-untyped-def]
        inner = super().read(scope)
        after = self._after

        class Broken:
            stats = inner.stats

            def __iter__(self):  # type: ignore[no-untyped-def]
                for n, item in enumerate(inner):
                    if n == after:
                        raise SiteReadFailed("the site connection was lost mid-read")
                    yield item

        return Broken()


@pytest.mark.asyncio
async def test_a_read_failing_half_way_sends_nothing_and_keeps_the_cursor(rig: Rig) -> None:
    await rig.engine().run_cycle()
    cursor = rig.state.sources.get(SITE)
    held = await rig.tenant_smsids()
    rig.delete_devices([r.ResourceID for r in rig.live_rows(5)])
    touch_site(rig.site, devices=20, seed=4, as_of=AS_OF)

    broken = await rig.engine(reader=FailingReader(rig.site, after=DEVICES // 2)).run_cycle()
    assert broken.outcome == "failed"
    assert "lost mid-read" in (broken.error or "")
    assert await rig.tenant_smsids() == held  # no delete, no upsert
    assert rig.state.sources.get(SITE) == cursor
    assert rig.state.runs.latest().error == broken.error  # type: ignore[union-attr]

    healed = await rig.engine().run_cycle()
    assert healed.outcome == "ok"
    assert healed.counts["deletes_sent"] >= 5
    assert await rig.tenant_smsids() == rig.expected_smsids()


@pytest.mark.asyncio
async def test_an_unreachable_site_fails_the_cycle_with_the_reason(rig: Rig) -> None:
    await rig.engine().run_cycle()
    held = await rig.tenant_smsids()
    nowhere = create_site_engine("postgresql://cobridge@127.0.0.1:9/CM_PS1")
    try:
        report = await rig.engine(reader=SiteReader(nowhere)).run_cycle()
    finally:
        nowhere.dispose()
    assert report.outcome == "failed"
    assert "127.0.0.1" in (report.error or "")
    assert await rig.tenant_smsids() == held


@pytest.mark.asyncio
async def test_a_restored_site_database_forces_a_full_resync(rig: Rig) -> None:
    first = await rig.engine().run_cycle()
    instance = rig.restore_identity()
    report = await rig.engine().run_cycle()
    assert (report.kind, report.outcome) == ("full", "ok")
    # Every live record travels again; the tenant finds them unchanged.
    assert report.counts["uploads"] == first.counts["uploads"]
    assert report.counts["unchanged"] == 0  # no hash was trusted
    assert await rig.tenant_smsids() == rig.expected_smsids()
    assert rig.state.sources.get(SITE).instance_id.endswith(instance)  # type: ignore[union-attr]
    assert (await rig.engine().run_cycle()).kind == "delta"


@pytest.mark.asyncio
async def test_a_reimaged_device_replaces_its_predecessor_in_one_batch(rig: Rig) -> None:
    await rig.engine().run_cycle()
    old = rig.live_rows(3)[2]
    new_smsid = rig.reimage(old.ResourceID)
    report = await rig.engine().run_cycle()
    assert report.outcome == "ok"
    assert report.counts["supersessions"] == 1
    assert report.counts["deletes_sent"] == 0  # superseding is not a delete
    held = await rig.tenant_smsids()
    assert new_smsid in held
    assert old.SMS_Unique_Identifier0.upper() not in held
    assert held == rig.expected_smsids()
    assert rig.state.outbox.pending() == []  # everything acknowledged


class RefusingClient:
    """The real connector client, except that the service refuses one SMSID's record."""

    def __init__(self, inner, refused: str) -> None:  # type: ignore[no-untyped-def]
        self._inner = inner
        self._refused = refused.encode()
        self.refusals = 0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)

    async def ingest_encoded(self, body: bytes, *, batch_id: str):  # type: ignore[no-untyped-def]
        if self._refused in gzip.decompress(body):
            self.refusals += 1
            raise CloudApiError(400, "invalid_body", "upserts.3.osVersion: too long")
        return await self._inner.ingest_encoded(body, batch_id=batch_id)


@pytest.mark.asyncio
async def test_a_record_the_service_refuses_is_found_by_splitting_and_quarantined(
    rig: Rig,
) -> None:
    target = rig.live_rows(50)[37].SMS_Unique_Identifier0.upper()
    refusing = RefusingClient(rig.connector, target)
    engine = rig.engine(batch_size=64)
    engine._client = refusing  # type: ignore[assignment]
    report = await engine.run_cycle()
    assert report.outcome == "ok"
    assert report.counts["refused"] == 1
    assert refusing.refusals == 7  # 64 -> 32 -> 16 -> 8 -> 4 -> 2 -> 1
    [entry] = rig.state.quarantine.entries("cloud")
    assert (entry.smsid, entry.reason) == (target, "refused_by_service")
    assert "osVersion" in entry.detail
    assert await rig.tenant_smsids() == rig.expected_smsids()
    assert target not in await rig.tenant_smsids()


@pytest.mark.asyncio
async def test_stopping_mid_cycle_leaves_nothing_lost(rig: Rig) -> None:
    engine = rig.engine(batch_size=50, in_flight=1)
    engine.stop()
    stopped = await engine.run_cycle()
    assert stopped.outcome == "failed"
    assert "stopped" in (stopped.error or "")
    assert rig.state.sources.get(SITE) is None  # no checkpoint for an unfinished cycle
    resumed = await rig.engine().run_cycle()
    assert resumed.outcome == "ok"
    assert await rig.tenant_smsids() == rig.expected_smsids()
    with rig.state.engine.connect() as conn:
        states = conn.execute(
            sa.text("SELECT status, count(*) FROM connector_outbox GROUP BY status")
        )
        assert dict(states.all()).get("pending", 0) == 0


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_connector_state_on_postgresql(service: RunningService, tmp_path: Path) -> None:
    site = seeded_site(tmp_path / "site.db", 300, seed=6)
    with throwaway_pg_database("cobridge_cstate") as url:
        rig = await attach(
            service, site, tmp_path / "c", state_db=url.render_as_string(hide_password=False)
        )
        try:
            assert rig.state.engine.dialect.name == "postgresql"
            first = await rig.engine(batch_size=40, in_flight=4).run_cycle()
            assert first.outcome == "ok", first.error
            touch_site(rig.site, devices=30, seed=2, as_of=AS_OF)
            rig.delete_devices([r.ResourceID for r in rig.live_rows(3)])
            second = await rig.engine(batch_size=40, in_flight=4).run_cycle()
            assert (second.kind, second.outcome) == ("delta", "ok")
            assert await rig.tenant_smsids() == rig.expected_smsids()
        finally:
            await close(rig)
            site.dispose()


@pytest.mark.asyncio
async def test_a_new_state_store_adopts_what_the_tenant_holds(
    rig: Rig, service: RunningService, tmp_path: Path
) -> None:
    first = await rig.engine().run_cycle()
    # The connector's disk is lost; meanwhile the site changes and loses devices.
    touched = touch_site(rig.site, devices=30, seed=12, as_of=AS_OF)
    gone = rig.live_rows(4)
    rig.delete_devices([r.ResourceID for r in gone])
    reinstalled = await attach(service, rig.site, tmp_path / "reinstalled")
    try:
        # The same tenant and hierarchy: it talks as rig's connector.
        await reinstalled.admin.close()
        await reinstalled.connector.close()
        reinstalled.admin, reinstalled.connector = rig.admin, rig.connector
        report = await reinstalled.engine().run_cycle()
        assert report.outcome == "ok", report.error
        assert report.counts["adopted"] == first.counts["upserted"]
        # Only what changed travels again, and the devices that left are deleted.
        assert report.counts["uploads"] < 60
        assert report.counts["deletes_sent"] == len(gone) + len(touched.deleted)
        assert await rig.tenant_smsids() == reinstalled.expected_smsids()
    finally:
        reinstalled.state.close()
