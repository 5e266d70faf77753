"""Faults at the site, with the service and the connector as processes.

- A read that fails half-way, then the site database gone (the site, the
  tenant store and the connector's state all on PostgreSQL): each cycle
  fails, `cobridge status` says why, nothing is sent, the tenant and the
  cursor stay as they were; once the database is back the next cycle catches up.
- A mass delete beyond the delete guard: held, nothing deleted in the tenant,
  status shows the held deletes; after `release-deletes` the next cycle sends them.
- The site restored from a backup (a new instance identity): a full resync,
  after which the tenant equals the restored site.
- Two gaps, as strict expected failures: status of a connector started
  while its site is unreachable, and the kind of a restore's resync.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.pg import pg_admin_url, throwaway_pg_database
from tests.support.system_checks import cursor, query
from tests.support.system_connector import ConnectorProcess, release_deletes, status_json
from tests.support.system_setup import System, running_system
from tests.support.system_sites import (
    backup,
    delete_devices,
    pg_rename,
    restore,
    site_devices,
    site_engine,
    touch,
)

READ_FAILURE = 'could not read block in file "base/16384/2619": read only 0 of 8192 bytes'


def tenant_rows(system: System) -> set[tuple[str, str, bool]]:
    """(SMSID, content hash, deleted) of every device the tenant store holds."""
    rows = query(
        system.stores.cloud,
        "SELECT smsid, content_hash, deleted_at IS NULL AS live FROM devices WHERE tenant_id = :t",
        t=system.stores.tenant_id,
    )
    return {(r.smsid, r.content_hash, bool(r.live)) for r in rows}


def break_reads_from(db: str, resource_id: int) -> None:
    """Make every read of the site fail at the chunk holding `resource_id` (PostgreSQL).

    The BIOS rows go behind a view whose serial number column raises for
    ResourceIDs from `resource_id` on, as a damaged page would: the chunks
    before it read fine.
    """
    with site_engine(db) as engine, engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE "v_GS_PC_BIOS" RENAME TO "v_GS_PC_BIOS_stored"')
        conn.exec_driver_sql(
            "CREATE FUNCTION damaged(rid integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS "
            f"$$ BEGIN IF rid >= {resource_id} THEN RAISE EXCEPTION '{READ_FAILURE}'; END IF; "
            "RETURN rid; END $$"
        )
        conn.exec_driver_sql(
            'CREATE VIEW "v_GS_PC_BIOS" AS SELECT "ResourceID", CASE WHEN damaged("ResourceID") '
            'IS NOT NULL THEN "SerialNumber0" END AS "SerialNumber0" FROM "v_GS_PC_BIOS_stored"'
        )


def repair_reads(db: str) -> None:
    """Undo `break_reads_from`."""
    with site_engine(db) as engine, engine.begin() as conn:
        conn.exec_driver_sql('DROP VIEW "v_GS_PC_BIOS"')
        conn.exec_driver_sql("DROP FUNCTION damaged(integer)")
        conn.exec_driver_sql('ALTER TABLE "v_GS_PC_BIOS_stored" RENAME TO "v_GS_PC_BIOS"')


@pytest.fixture
def pg_databases() -> Iterator[tuple[sa.URL, sa.URL, sa.URL]]:
    """Three empty PostgreSQL databases: the site's, the tenant store's, the connector's state."""
    with (
        throwaway_pg_database("cobridge_site") as site,
        throwaway_pg_database("cobridge_cloud") as store,
        throwaway_pg_database("cobridge_state") as state,
    ):
        yield site, store, state


def plain(url: sa.URL) -> str:
    """A postgresql:// URL as an operator writes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def failed_cycle(connector: ConnectorProcess, after: int) -> dict:
    """The first cycle reported after the first `after` ones, which must have failed."""
    report = connector.wait_cycle(after=after)
    assert report["message"].endswith(": failed"), f"{report}\n{connector.tail()}"
    return report


def settled_status(system: System) -> dict:
    """`cobridge status --json` between cycles (while one runs, it shows that one)."""
    for _ in range(20):
        status = status_json(system.config)
        if status["last_cycle"] and status["last_cycle"]["outcome"] is not None:
            return status
    raise AssertionError(f"a cycle was always running: {status}")


def assert_nothing_moved(system: System, before: set, cursor_before: tuple, when: str) -> dict:
    """The tenant and the cursor as they were, nothing held or pending; the status."""
    assert tenant_rows(system) == before, f"{when}: the tenant changed"
    assert cursor(system.stores) == cursor_before, f"{when}: the cursor moved"
    status = settled_status(system)
    assert status["last_cycle"]["outcome"] == "failed", status
    assert not status["healthy"], status
    assert (status["held_deletes"], status["backlog_batches"]) == (0, 0), status
    return status


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_site_read_failing_half_way_then_unreachable(
    pg_databases: tuple[sa.URL, sa.URL, sa.URL], tmp_path: Path
) -> None:
    site_url, store_url, state_url = pg_databases
    site = plain(site_url)
    with running_system(
        tmp_path,
        devices=2000,
        seed_value=31,
        site_db=site,
        cloud_db=plain(store_url),
        state_db=plain(state_url),
    ) as system:
        system.configure(sync={"interval_seconds": 2})
        connector = system.connector(env={"COBRIDGE_CONNECTOR_SITE__CHUNK_SIZE": "100"})
        try:
            assert connector.wait_cycle()["message"] == "cycle full: ok", connector.tail()
            system.check("after the full sync")
            before = tenant_rows(system)
            live = sorted(d.resource_id for d in site_devices(site) if d.live)
            seen = len(connector.cycles())
            break_reads_from(site, live[len(live) // 2])
            # Gone from the part the failing read still gets through: not deleted either.
            delete_devices(site, random.Random(3).sample(live[: len(live) // 3], 20))
            connector.wait_cycle(after=seen)  # one may have begun before the damage
            cursor_before = cursor(system.stores)
            report = failed_cycle(connector, seen + 1)
            assert READ_FAILURE in report["error"], report
            status = assert_nothing_moved(system, before, cursor_before, "read failed half-way")
            assert "reading the inventory" in status["last_cycle"]["error"], status
            assert any(READ_FAILURE in p for p in status["problems"]), status

            seen = len(connector.cycles())
            pg_rename(pg_admin_url(), site_url.database, f"{site_url.database}_away")
            try:
                report = failed_cycle(connector, seen + 1)
                status = assert_nothing_moved(system, before, cursor_before, "site unreachable")
                assert site_url.database in status["last_cycle"]["error"], status
                assert "does not exist" in status["last_cycle"]["error"], status
            finally:
                pg_rename(pg_admin_url(), f"{site_url.database}_away", site_url.database)
            repair_reads(site)
            seen = len(connector.cycles())
            # Every cycle failed until the repair: the first that succeeds began after it.
            report = connector.wait_ok_cycle(after=seen)
            assert report["message"] == "cycle delta: ok", report
            assert report["deletes_sent"] == 20, report
            system.check("once the site is back")
            assert cursor(system.stores) != cursor_before
            assert connector.terminate() == 0, connector.tail()
        finally:
            connector.kill9()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_mass_delete_is_held_until_released(tmp_path: Path) -> None:
    with running_system(tmp_path, devices=2000, seed_value=37) as system:
        system.configure()
        system.run_once()
        system.check("after the full sync")
        before = tenant_rows(system)
        live = sorted(d.resource_id for d in site_devices(system.site_db) if d.live)
        gone = random.Random(5).sample(live, len(live) // 5)
        delete_devices(system.site_db, gone)
        for attempt in ("the guard trips", "still held a cycle later"):
            cycle = system.run_once().cycles()[-1]
            assert cycle["deletes_sent"] == 0, (attempt, cycle)
            assert tenant_rows(system) == before, f"{attempt}: the tenant changed"
            status = status_json(system.config)
            assert status["held_deletes"] == len(gone), (attempt, status)
            assert any("release-deletes" in n for n in status["notices"]), status
        assert "released" in release_deletes(system.config, "tester")
        cycle = system.run_once().cycles()[-1]
        assert cycle["deletes_sent"] == len(gone), cycle
        system.check("after the release")
        assert status_json(system.config)["held_deletes"] == 0


@dataclass
class Restored:
    """A site restored from a backup after changes, and the connector's next cycle."""

    system: System
    added: int
    cycle: dict
    status: dict
    devices: int


@pytest.fixture(scope="module")
def restored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restored]:
    """Sync a site, back it up, change it and sync, restore the backup, run one more cycle."""
    root = tmp_path_factory.mktemp("restored")
    with running_system(root, devices=2000, seed_value=43) as system:
        system.configure()
        system.run_once()
        system.check("after the full sync")
        saved = root / "site-backup.db"
        backup(Path(system.site_db), saved)
        _, added, _ = touch(system.site_db, 300, 9)
        assert system.run_once().cycles()[-1]["message"] == "cycle delta: ok"
        system.check("after the changes")
        restore(saved, Path(system.site_db))
        cycle = system.run_once().cycles()[-1]
        devices, _ = system.check("after the restore")
        yield Restored(system, added, cycle, status_json(system.config), devices)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_site_restored_from_backup_resyncs_in_full(restored: Restored) -> None:
    # The tenant equals the restored site (checked by the fixture): every live
    # record went up again, and what only the changes had added went away.
    cycle = restored.cycle
    assert cycle["message"] == "cycle full: ok", cycle
    assert cycle["uploads"] == restored.devices, cycle
    assert cycle["deletes_sent"] == restored.added > 0, cycle
    assert restored.status["last_cycle"]["outcome"] == "ok", restored.status


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_status_calls_the_resync_after_a_restore_full(restored: Restored) -> None:
    assert restored.status["last_cycle"]["kind"] == "full", restored.status["last_cycle"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_status_says_why_when_the_site_is_unreachable_at_start(tmp_path: Path) -> None:
    with running_system(tmp_path, devices=300, seed_value=47) as system:
        system.configure()
        system.run_once()
        site = Path(system.site_db)
        site.replace(tmp_path / "site-away.db")
        site.write_text("this is not a database\n")
        connector = system.connector()
        try:
            connector.wait_for(
                lambda logs: any("site database not usable" in str(x.get("message")) for x in logs)
            )
            status = status_json(system.config)
        finally:
            connector.kill9()
    assert not status["healthy"], status
    assert any("site" in problem for problem in status["problems"]), status
