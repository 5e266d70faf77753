"""Contract suite for the site store and inventory reader, run on every backend.

Each test gets an empty, migrated site store (`site_engine`: SQLite, and
PostgreSQL where COBRIDGE_TEST_PG_URL names a server; always in CI).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from onprem.errors import SiteError, SiteReadFailed, SiteSchemaMismatch, SiteUnreachable
from onprem.site_reader import ReadScope, SiteReader
from onprem.site_records import RejectedRecord, SiteDevice
from onprem.site_schema import (
    cobridge_site_identity,
    v_FullCollectionMembership,
    v_GS_PC_BIOS,
    v_R_System,
)
from onprem.site_store import read_site_identity
from tests.support.site_rows import BASE_ID, insert_collections, insert_device, smsid


def _read_all(engine: sa.Engine, **kwargs: object) -> list[SiteDevice | RejectedRecord]:
    scope = kwargs.pop("scope", None)
    return list(SiteReader(engine, **kwargs).read(scope))  # type: ignore[arg-type]


def test_empty_site_reads_nothing_and_completes(site_engine: sa.Engine) -> None:
    read = SiteReader(site_engine).read()
    assert list(read) == []
    assert read.stats.complete
    assert read.stats.rows == 0


def test_full_device_maps_every_view(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        insert_collections(conn)
        insert_device(conn, 1, collections=("SMS00001", "PS100014", "PS100010"))
    [device] = _read_all(site_engine)
    assert isinstance(device, SiteDevice)
    assert device.resource_id == BASE_ID + 1
    assert device.smsid == smsid(1)
    assert device.name == "WKS00001"
    assert device.os_build == "10.0.22631"
    assert device.os_caption == "Microsoft Windows 11 Enterprise"
    assert device.model == "Latitude 5440"
    assert device.serial_number == "7XK0001"
    assert device.collections == ("PS100010", "PS100014", "SMS00001")
    assert device.health is not None
    assert device.health.active == 1
    assert device.health.evaluation == "pass"
    assert device.health.last_active == datetime(2026, 10, 31, 22, 0)
    assert device.comanagement is not None
    assert device.comanagement.co_managed
    assert device.comanagement.workload_flags == 67
    keys = device.keys
    assert keys.aad_device_id == "00000001-aaaa-4bbb-8ccc-dddddddddddd"
    assert keys.serial_number == "7XK0001"
    assert keys.fqdn == "wks00001.corp.contoso.com"
    assert keys.resource_id == BASE_ID + 1


def test_device_without_agent_has_no_inventory(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        insert_device(conn, 1, inventory=False, Client0=0, Client_Version0=None)
    [device] = _read_all(site_engine)
    assert isinstance(device, SiteDevice)
    assert device.client == 0
    assert device.health is None
    assert device.comanagement is None
    assert not device.has_hardware_inventory


def test_sentinel_dates_and_placeholders_are_normalised(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        rid = insert_device(conn, 1, Last_Logon_Timestamp0=datetime(1601, 1, 1), AADDeviceID="")
        conn.execute(
            v_GS_PC_BIOS.update()
            .where(v_GS_PC_BIOS.c.ResourceID == rid)
            .values(SerialNumber0="To Be Filled By O.E.M.")
        )
    [device] = _read_all(site_engine)
    assert isinstance(device, SiteDevice)
    assert device.last_logon is None
    assert device.aad_device_id is None
    assert device.serial_number == "To Be Filled By O.E.M."
    assert device.keys.serial_number is None


def test_odd_but_valid_values_pass(site_engine: sa.Engine) -> None:
    long_dn = (
        "CN=WKS00001," + ",".join(f"OU=Unit{i}" for i in range(60)) + ",DC=corp,DC=contoso,DC=com"
    )
    with site_engine.begin() as conn:
        insert_device(conn, 1, User_Name0="björn.ångström", Distinguished_Name0=long_dn)
        insert_device(conn, 2, User_Name0='o\'brien "the admin"', Name0="Ünïcødé-PC")
    devices = _read_all(site_engine)
    assert all(isinstance(d, SiteDevice) for d in devices)
    assert devices[0].distinguished_name == long_dn
    assert devices[1].name == "Ünïcødé-PC"


BAD_VALUES = [
    pytest.param(
        {"SMS_Unique_Identifier0": "GUID:not-a-guid"},
        "invalid_guid",
        "SMS_Unique_Identifier0",
        id="smsid",
    ),
    pytest.param(
        {"SMS_Unique_Identifier0": None}, "empty_value", "SMS_Unique_Identifier0", id="no-smsid"
    ),
    pytest.param({"AADDeviceID": "{zzzz}"}, "invalid_guid", "AADDeviceID", id="aad"),
    pytest.param({"Name0": ""}, "empty_value", "Name0", id="empty-name"),
    pytest.param({"Name0": "   "}, "empty_value", "Name0", id="blank-name"),
    pytest.param({"Name0": "A" * 300}, "too_long", "Name0", id="overlong-name"),
    pytest.param({"Name0": "PC\x07BELL"}, "control_character", "Name0", id="control-char"),
    pytest.param(
        {"Creation_Date0": datetime(2999, 1, 1)},
        "impossible_date",
        "Creation_Date0",
        id="future-date",
    ),
    pytest.param(
        {"Last_Logon_Timestamp0": datetime(1700, 6, 1)},
        "impossible_date",
        "Last_Logon_Timestamp0",
        id="old-date",
    ),
    pytest.param({"Client0": 7}, "out_of_range", "Client0", id="flag-range"),
]
SQLITE_ONLY_BAD_VALUES = [
    pytest.param({"Name0": "PC\x00NUL"}, "control_character", "Name0", id="nul"),
    pytest.param({"Client0": "yes"}, "wrong_type", "Client0", id="text-in-int"),
    pytest.param({"Client0": "7"}, "out_of_range", "Client0", id="numeric-text-in-int"),
    pytest.param(
        {"Creation_Date0": "last tuesday"}, "wrong_type", "Creation_Date0", id="text-in-date"
    ),
]


def _check_reject(engine: sa.Engine, bad: dict[str, object], reason: str, column: str) -> None:
    dates = {
        k: v
        for k, v in bad.items()
        if k.endswith(("Date0", "Timestamp0")) and not isinstance(v, datetime)
    }
    with engine.begin() as conn:
        insert_device(conn, 1)
        insert_device(conn, 2, **{k: v for k, v in bad.items() if k not in dates})
        insert_device(conn, 3)
        for key, value in dates.items():
            # Bypass SQLAlchemy's DateTime type, as another writer of the file could.
            conn.execute(
                sa.text(f'UPDATE "v_R_System" SET "{key}" = :v WHERE "ResourceID" = :r'),
                {"v": value, "r": BASE_ID + 2},
            )
    read = SiteReader(engine).read()
    items = list(read)
    assert [type(i).__name__ for i in items] == ["SiteDevice", "RejectedRecord", "SiteDevice"]
    reject = items[1]
    assert isinstance(reject, RejectedRecord)
    assert (reject.resource_id, reject.reason, reject.column) == (BASE_ID + 2, reason, column)
    assert reject.detail
    assert read.stats.complete
    assert (read.stats.rows, read.stats.records, read.stats.rejected) == (3, 2, 1)
    assert read.stats.rejects_by_reason == {reason: 1}


@pytest.mark.parametrize(("bad", "reason", "column"), BAD_VALUES)
def test_invalid_record_is_rejected_with_reason_and_read_goes_on(
    site_engine: sa.Engine, bad: dict[str, object], reason: str, column: str
) -> None:
    _check_reject(site_engine, bad, reason, column)


@pytest.mark.parametrize(("bad", "reason", "column"), SQLITE_ONLY_BAD_VALUES)
def test_values_only_sqlite_can_hold_are_rejected(
    site_engine: sa.Engine, bad: dict[str, object], reason: str, column: str
) -> None:
    if site_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL cannot store this value; SQLite and SQL Server can")
    _check_reject(site_engine, bad, reason, column)


def test_nested_reject_names_the_view(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        insert_device(conn, 1)
        conn.execute(sa.text('UPDATE "v_CH_ClientSummary" SET "ClientActiveStatus" = 9'))
    [reject] = _read_all(site_engine)
    assert isinstance(reject, RejectedRecord)
    assert reject.column == "v_CH_ClientSummary.ClientActiveStatus"
    assert reject.reason == "out_of_range"


def test_duplicate_inventory_rows_yield_one_record(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        rid = insert_device(conn, 1, collections=("SMS00001", "PS100010"))
        conn.execute(v_GS_PC_BIOS.insert(), {"ResourceID": rid, "SerialNumber0": "SECOND"})
        insert_device(conn, 2)
    read = SiteReader(site_engine).read()
    items = list(read)
    assert [i.resource_id for i in items] == [BASE_ID + 1, BASE_ID + 2]
    assert items[0].collections == ("PS100010", "SMS00001")
    assert read.stats.rows == 2


@pytest.mark.parametrize("chunk_size", [1, 3, 7])
def test_chunking_does_not_change_what_is_read(site_engine: sa.Engine, chunk_size: int) -> None:
    with site_engine.begin() as conn:
        insert_collections(conn)
        for n in range(1, 21):
            cols = ("SMS00001", "PS100010") if n % 2 else ("SMS00001",)
            insert_device(conn, n, collections=cols, inventory=n % 5 != 0)
        # A membership of a device that is not in v_R_System must be ignored.
        conn.execute(
            v_FullCollectionMembership.insert(),
            {
                "CollectionID": "SMS00001",
                "ResourceID": BASE_ID + 500,
                "Name": "GHOST",
                "SiteCode": "PS1",
                "IsClient": 0,
            },
        )
    whole = _read_all(site_engine, chunk_size=1000)
    chunked = _read_all(site_engine, chunk_size=chunk_size)
    assert [d.content_hash for d in chunked] == [d.content_hash for d in whole]
    assert [d.collections for d in chunked] == [d.collections for d in whole]
    assert len(whole) == 20


def test_content_hash_is_stable_and_tracks_changes(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        for n in (1, 2, 3):
            insert_device(conn, n)
    first = {d.resource_id: d.content_hash for d in _read_all(site_engine)}
    assert first == {d.resource_id: d.content_hash for d in _read_all(site_engine)}
    assert len(set(first.values())) == 3
    with site_engine.begin() as conn:
        conn.execute(
            v_R_System.update()
            .where(v_R_System.c.ResourceID == BASE_ID + 1)
            .values(Build01="10.0.26100")
        )
        conn.execute(
            v_FullCollectionMembership.insert(),
            {
                "CollectionID": "PS100014",
                "ResourceID": BASE_ID + 2,
                "Name": "WKS00002",
                "SiteCode": "PS1",
                "IsClient": 1,
            },
        )
    second = {d.resource_id: d.content_hash for d in _read_all(site_engine)}
    assert second[BASE_ID + 1] != first[BASE_ID + 1]
    assert second[BASE_ID + 2] != first[BASE_ID + 2]
    assert second[BASE_ID + 3] == first[BASE_ID + 3]


def test_scopes(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        insert_collections(conn)
        insert_device(conn, 1, collections=("SMS00001", "PS100014"))
        insert_device(conn, 2, Obsolete0=1, Active0=0)
        insert_device(conn, 3, inventory=False, Client0=0)
        insert_device(conn, 4, Decommissioned0=1)
    ids = lambda items: [i.resource_id - BASE_ID for i in items]  # noqa: E731
    assert ids(_read_all(site_engine)) == [1, 2, 3, 4]
    assert ids(_read_all(site_engine, scope=ReadScope(include_obsolete=False))) == [1, 3]
    assert ids(_read_all(site_engine, scope=ReadScope(agent_only=True))) == [1, 2, 4]
    assert ids(_read_all(site_engine, scope=ReadScope(collection_id="PS100014"))) == [1]
    obsolete = _read_all(site_engine)[1]
    assert isinstance(obsolete, SiteDevice)
    assert obsolete.obsolete
    assert not obsolete.live


def test_collections_are_listed(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        insert_collections(conn)
    collections = SiteReader(site_engine).collections()
    assert [(c.collection_id, c.limit_to) for c in collections] == [
        ("PS100010", "SMS00001"),
        ("PS100014", "PS100010"),
        ("SMS00001", None),
    ]


def test_instance_identity_is_stable_and_changes_on_restore(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        conn.execute(
            cobridge_site_identity.insert(),
            {
                "id": 1,
                "instance_id": "aaaa",
                "hierarchy_id": "h-1",
                "created_at": datetime(2026, 1, 1),
            },
        )
    first = read_site_identity(site_engine)
    assert first == read_site_identity(site_engine)
    assert first.hierarchy_id == "h-1"
    read = SiteReader(site_engine).read()
    list(read)
    assert read.stats.identity == first
    # What a restore from backup does to an embedded copy: a new instance.
    with site_engine.begin() as conn:
        conn.execute(cobridge_site_identity.update().values(instance_id="bbbb"))
    assert read_site_identity(site_engine).instance_id != first.instance_id


def test_missing_column_and_view_are_named(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        conn.execute(sa.text('ALTER TABLE "v_GS_PC_BIOS" DROP COLUMN "SerialNumber0"'))
        conn.execute(sa.text('DROP VIEW "v_FullCollectionMembership_Valid"'))
        conn.execute(sa.text('DROP TABLE "v_ClientCoManagementState"'))
    with pytest.raises(SiteSchemaMismatch) as raised:
        SiteReader(site_engine).check()
    assert raised.value.missing == ["v_GS_PC_BIOS.SerialNumber0", "v_ClientCoManagementState"]
    assert "v_GS_PC_BIOS.SerialNumber0" in str(raised.value)


def _break_the_read(engine: sa.Engine, dbapi_connections: list[object]) -> None:
    """Fail the reader's next statement the way a real site can mid-read."""
    if engine.dialect.name == "sqlite":
        # The account loses read permission on a view.
        def deny(action: int, arg1: str | None, *_: object) -> int:
            if action == sqlite3.SQLITE_READ and arg1 == "v_GS_PC_BIOS":
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK

        for dbapi_conn in dbapi_connections:
            dbapi_conn.set_authorizer(deny)  # type: ignore[attr-defined]
    else:
        # The server drops the reader's session (failover, restart, a DBA).
        admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        admin.dispose()


def test_read_failing_half_way_is_not_complete(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        for n in range(1, 11):
            insert_device(conn, n)
    site_engine.dispose()
    dbapi_connections: list[object] = []
    event.listen(
        site_engine, "connect", lambda dbapi_conn, _rec: dbapi_connections.append(dbapi_conn)
    )
    read = SiteReader(site_engine, chunk_size=2).read()
    seen: list[object] = []

    def consume() -> None:
        for item in read:
            seen.append(item)
            if len(seen) == 3:
                _break_the_read(site_engine, dbapi_connections)

    with pytest.raises(SiteError) as raised:
        consume()
    assert isinstance(raised.value, SiteReadFailed | SiteUnreachable)
    assert site_engine.url.database in str(raised.value) or "SQLite file" in str(raised.value)
    # What was delivered is an in-order prefix (the chunks fetched before the
    # failure, read-ahead included); the read is not complete.
    ids = [item.resource_id for item in seen]  # type: ignore[attr-defined]
    assert 3 <= len(ids) < 10
    assert ids == [BASE_ID + n for n in range(1, len(ids) + 1)]
    assert not read.stats.complete


def test_stopping_early_leaves_the_read_incomplete(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        for n in range(1, 6):
            insert_device(conn, n)
    read = SiteReader(site_engine, chunk_size=2).read()
    for _item in read:
        break
    assert not read.stats.complete
