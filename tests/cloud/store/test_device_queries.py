"""Device list, CSV export and detail against a seeded store, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.contract.devices import DEVICE_FIELDS, SORTABLE, DeviceQuery
from cloud.store import device_queries
from cloud.store.device_queries import (
    QueryError,
    device_detail,
    list_devices,
    stream_devices_csv,
)
from cloud.store.device_view import VIEW_COLUMNS, device_out, wire_item, wire_row
from cloud.store.engine import create_store_engine, migrate_store, store_urls
from cloud.store.keyset import Position, encode_token
from tests.support.device_rows import (
    DETAIL_INDEX,
    NOW,
    SORT_COLUMN,
    TENANT_A,
    TENANT_B,
    TENANT_C,
    Fleet,
    expected_csv_cell,
    expected_item,
    expected_order,
    insert_fleet,
    make_fleet,
    wire_time,
)
from tests.support.pg import throwaway_pg_database

# Stored last-activity times are whole hours minus 250 us; this bound equals some of them.
EDGE = NOW - timedelta(hours=20, microseconds=250)
PLUS_TWO = timezone(timedelta(hours=2))
BAD_ORDERBY = (
    "colour",
    "deviceName up",
    "deviceName asc desc",
    "deviceName,osBuild",
    "devicename",
    "",
)


@dataclass(frozen=True)
class Seeded:
    """The async URL of a store holding `fleet`."""

    async_url: sa.URL
    fleet: Fleet


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """One migrated store per backend with the fleet inserted; the tests only read it."""
    fleet = make_fleet()
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            urls = store_urls(None, tmp_path_factory.mktemp("device_queries"))
        else:
            url = stack.enter_context(throwaway_pg_database("cobridge_cloud"))
            urls = store_urls(url.render_as_string(hide_password=False), Path())
        migrate_store(urls[0])
        sync_engine = sa.create_engine(urls[0])
        with sync_engine.begin() as conn:
            insert_fleet(conn, fleet)
        sync_engine.dispose()
        yield Seeded(urls[1], fleet)


@pytest_asyncio.fixture
async def engine(seeded: Seeded) -> AsyncIterator[AsyncEngine]:
    """An async engine on the seeded store."""
    engine = create_store_engine(seeded.async_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def read_pages(engine: AsyncEngine, tenant: str, **params: Any) -> list[list[dict]]:
    """Every page of a query, following the tokens."""
    pages: list[list[dict]] = []
    token = None
    async with engine.connect() as conn:
        for _ in range(1000):
            result = await list_devices(conn, tenant, DeviceQuery(**params, skiptoken=token))
            pages.append(result.items)
            token = result.next_skiptoken
            if token is None:
                return pages
    raise AssertionError("the pages never ended")


async def read_ids(engine: AsyncEngine, tenant: str, **params: Any) -> list[str]:
    """The ids of every device a query lists, in order."""
    pages = await read_pages(engine, tenant, top=1000, **params)
    return [item["id"] for page in pages for item in page]


async def read_csv(engine: AsyncEngine, tenant: str, **params: Any) -> tuple[list[list[str]], str]:
    """The parsed CSV export and its raw text; checks no connection is held between chunks."""
    chunks = []
    async for chunk in stream_devices_csv(engine, tenant, DeviceQuery(**params)):
        assert engine.pool.checkedout() == 0
        chunks.append(chunk)
    text = "".join(chunks)
    return list(csv.reader(io.StringIO(text, newline=""))), text


@pytest.mark.asyncio
@pytest.mark.parametrize("field", SORTABLE)
@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_pages_concatenate_to_the_sorted_list(
    engine: AsyncEngine, seeded: Seeded, field: str, direction: str
) -> None:
    rows = seeded.fleet.live(TENANT_A)
    values = [r[SORT_COLUMN[field]] for r in rows if r[SORT_COLUMN[field]] is not None]
    assert len(set(values)) < len(values), "the data must hold ties to break"
    expected = expected_order(rows, field, direction == "desc")
    for top in (1, 7, 100):
        pages = await read_pages(engine, TENANT_A, orderby=f"{field} {direction}", top=top)
        ids = [item["id"] for page in pages for item in page]
        assert ids == expected, f"top={top}"
        assert all(len(page) == top for page in pages[:-1])
        assert 0 < len(pages[-1]) <= top


@pytest.mark.asyncio
async def test_sort_data_has_nulls_and_default_order_is_name(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    rows = seeded.fleet.live(TENANT_A)
    for field, column in SORT_COLUMN.items():
        if field not in ("deviceName", "managedBy", "lastSyncDateTime"):
            assert any(r[column] is None for r in rows), field
    assert await read_ids(engine, TENANT_A) == expected_order(rows, "deviceName", False)
    filtered = [r for r in rows if r["managed_by"] == "ConfigMgr"]
    pages = await read_pages(
        engine, TENANT_A, managed_by="ConfigMgr", orderby="lastActiveDateTime DESC", top=7
    )
    ids = [item["id"] for page in pages for item in page]
    assert ids == expected_order(filtered, "lastActiveDateTime", True)


def _in(collection: str, fleet: Fleet) -> set[str]:
    return {
        m["device_id"]
        for m in fleet.memberships
        if m["tenant_id"] == TENANT_A and m["collection_id"] == collection
    }


FILTERS: list[tuple[dict[str, Any], Any]] = [
    ({"name_starts_with": "wks-00"}, lambda r, f: r["name_key"].startswith("wks-00")),
    ({"name_starts_with": "WkS-01"}, lambda r, f: r["name_key"].startswith("wks-01")),
    ({"name_starts_with": "50%_"}, lambda r, f: r["name"] == "50%_off"),
    ({"name_starts_with": "BACK\\SLASH_"}, lambda r, f: r["name"].startswith("back\\")),
    ({"name_starts_with": "東京"}, lambda r, f: r["name"] == "東京-PC-01"),
    ({"name_starts_with": "STRASSE-07"}, lambda r, f: r["name"] == "Straße-07"),
    ({"name_contains": "STRASSE"}, lambda r, f: r["name"] == "Straße-07"),
    ({"name_contains": "%_o"}, lambda r, f: r["name"] == "50%_off"),
    ({"name_contains": "-dup"}, lambda r, f: r["name_key"] == "wks-dup"),
    ({"operating_system": "Windows Server"}, lambda r, f: r["os_family"] == "Windows Server"),
    ({"os_build": 22631}, lambda r, f: r["os_build"] == 22631),
    ({"managed_by": "Co-managed"}, lambda r, f: r["managed_by"] == "Co-managed"),
    ({"hierarchy_id": "hier-cs2"}, lambda r, f: r["hierarchy_id"] == "hier-cs2"),
    ({"site_code": "ps1"}, lambda r, f: r["site_code"] == "PS1"),
    ({"collection_id": "ps100014"}, lambda r, f: r["device_id"] in _in("PS100014", f)),
    ({"last_active_before": EDGE.replace(tzinfo=UTC).astimezone(PLUS_TWO)},
     lambda r, f: r["last_active_at"] is not None and r["last_active_at"] < EDGE),
    ({"last_active_after": EDGE.replace(tzinfo=UTC)},
     lambda r, f: r["last_active_at"] is not None and r["last_active_at"] >= EDGE),
    ({"client_health": "fail"}, lambda r, f: r["health_evaluation"] == "fail"),
    ({"client_active": False}, lambda r, f: r["client_active"] is False),
    ({"client_active": True}, lambda r, f: r["client_active"] is True),
    ({"managed_by": "ConfigMgr", "site_code": "PS1", "client_active": True},
     lambda r, f: (r["managed_by"], r["site_code"], r["client_active"]) == ("ConfigMgr", "PS1", True)),
    ({"name_starts_with": "wks-0", "os_build": 22631, "last_active_after": EDGE.replace(tzinfo=UTC)},
     lambda r, f: r["name_key"].startswith("wks-0") and r["os_build"] == 22631
     and r["last_active_at"] is not None and r["last_active_at"] >= EDGE),
    ({"collection_id": "PS100014", "client_health": "pass", "orderby": "osBuild desc"},
     lambda r, f: r["device_id"] in _in("PS100014", f) and r["health_evaluation"] == "pass"),
]  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.parametrize(("params", "keep"), FILTERS, ids=[str(p) for p, _ in FILTERS])
async def test_filters(engine: AsyncEngine, seeded: Seeded, params: dict, keep: Any) -> None:
    rows = seeded.fleet.live(TENANT_A)
    expected = {r["device_id"] for r in rows if keep(r, seeded.fleet)}
    assert 0 < len(expected) < len(rows), "the case must keep some devices and drop others"
    pages = await read_pages(engine, TENANT_A, top=9, count=True, **params)
    ids = [item["id"] for page in pages for item in page]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    async with engine.connect() as conn:
        result = await list_devices(conn, TENANT_A, DeviceQuery(count=True, top=1, **params))
    assert result.count == len(expected)


@pytest.mark.asyncio
async def test_edge_time_is_in_after_not_before(engine: AsyncEngine, seeded: Seeded) -> None:
    at_edge = {r["device_id"] for r in seeded.fleet.live(TENANT_A) if r["last_active_at"] == EDGE}
    assert at_edge
    after = set(await read_ids(engine, TENANT_A, last_active_after=EDGE.replace(tzinfo=UTC)))
    before = set(await read_ids(engine, TENANT_A, last_active_before=EDGE.replace(tzinfo=UTC)))
    assert at_edge <= after
    assert not at_edge & before


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"last_active_before": EDGE}, "lastActiveBefore"),
        ({"last_active_after": EDGE}, "lastActiveAfter"),
        ({"os_build": 2**40}, "osBuild"),
        ({"select": ["deviceName", "colour"]}, "$select"),
        *(({"orderby": bad}, "$orderby") for bad in BAD_ORDERBY),
    ],
)
async def test_bad_parameters_are_refused(
    engine: AsyncEngine, params: dict, parameter: str
) -> None:
    async with engine.connect() as conn:
        with pytest.raises(QueryError) as caught:
            await list_devices(conn, TENANT_A, DeviceQuery(**params))
    assert caught.value.parameter == parameter
    assert caught.value.code == "invalid_query"
    with pytest.raises(QueryError):
        await anext(stream_devices_csv(engine, TENANT_A, DeviceQuery(**params)))


@pytest.mark.parametrize("params", [{"name_contains": "a\x00b"}, {"hierarchy_id": "\x00"}])
def test_nul_in_a_filter_is_refused_by_the_contract(params: dict) -> None:
    # PostgreSQL cannot compare text with NUL: no query with one is ever built.
    with pytest.raises(ValidationError, match="NUL"):
        DeviceQuery(**params)


@pytest.mark.asyncio
async def test_tenants_never_see_each_other(engine: AsyncEngine, seeded: Seeded) -> None:
    fleet = seeded.fleet
    shared = fleet.live(TENANT_A)[DETAIL_INDEX]["device_id"]
    for tenant in (TENANT_A, TENANT_B, TENANT_C):
        live = fleet.live(tenant)
        pages = await read_pages(engine, tenant, top=100, count=True)
        items = [item for page in pages for item in page]
        assert sorted(item["id"] for item in items) == sorted(r["device_id"] for r in live)
        assert {item["deviceName"] for item in items} == {r["name"] for r in live}
        rows, _ = await read_csv(engine, tenant, select=["deviceName"])
        assert sorted(rows[1:]) == sorted(
            [r["device_id"], expected_csv_cell(r["name"])] for r in live
        )
    b_only = next(r["device_id"] for r in fleet.live(TENANT_B) if r["device_id"] != shared)
    assert await read_ids(engine, TENANT_A, name_starts_with="b-secret") == []
    assert await read_ids(engine, TENANT_A, collection_id="PS100077") == []
    assert await read_ids(engine, TENANT_B, collection_id="PS100077") == []
    async with engine.connect() as conn:
        assert await device_detail(conn, TENANT_A, b_only) is None
        mine = await device_detail(conn, TENANT_A, shared)
        theirs = await device_detail(conn, TENANT_B, shared)
        empty = await list_devices(conn, TENANT_A, DeviceQuery(name_contains="secret", count=True))
    assert mine is not None
    assert theirs is not None
    assert mine.device.device_name == fleet.live(TENANT_A)[DETAIL_INDEX]["name"]
    assert theirs.device.device_name == "B-SECRET-01"
    assert (empty.count, empty.items, empty.next_skiptoken) == (0, [], None)


@pytest.mark.asyncio
async def test_tombstones_are_never_listed_or_shown(engine: AsyncEngine, seeded: Seeded) -> None:
    deleted = [
        r["device_id"]
        for r in seeded.fleet.devices
        if r["tenant_id"] == TENANT_A and r["deleted_at"] is not None
    ]
    assert deleted
    listed = set(await read_ids(engine, TENANT_A))
    rows, _ = await read_csv(engine, TENANT_A, select=[])
    assert not listed & set(deleted)
    assert not {row[0] for row in rows} & set(deleted)
    async with engine.connect() as conn:
        for device_id in deleted:
            assert await device_detail(conn, TENANT_A, device_id) is None


@pytest.mark.asyncio
async def test_items_map_every_column(engine: AsyncEngine, seeded: Seeded) -> None:
    items = [item for page in await read_pages(engine, TENANT_A, top=1000) for item in page]
    assert items == [expected_item(r) for r in _by_name(seeded.fleet.live(TENANT_A))]
    assert {item["enrolledInMdm"] for item in items} == {True, False}


def _by_name(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["name_key"], r["device_id"]))


@pytest.mark.asyncio
async def test_select_and_count(engine: AsyncEngine, seeded: Seeded) -> None:
    total = len(seeded.fleet.live(TENANT_A))
    async with engine.connect() as conn:
        first = await list_devices(
            conn, TENANT_A, DeviceQuery(select=["osBuild", "deviceName"], top=5, count=True)
        )
        second = await list_devices(
            conn, TENANT_A, DeviceQuery(top=5, count=True, skiptoken=first.next_skiptoken)
        )
        uncounted = await list_devices(conn, TENANT_A, DeviceQuery(top=5))
        with pytest.raises(QueryError, match="'colour'") as caught:
            await list_devices(conn, TENANT_A, DeviceQuery(select=["deviceName", "colour"]))
    assert (caught.value.parameter, caught.value.code) == ("$select", "invalid_query")
    assert [list(item) for item in first.items] == [["id", "osBuild", "deviceName"]] * 5
    full = [expected_item(r) for r in _by_name(seeded.fleet.live(TENANT_A))]
    assert first.items == [{k: e[k] for k in ("id", "osBuild", "deviceName")} for e in full[:5]]
    assert second.items == full[5:10]
    assert first.count == second.count == total
    assert uncounted.count is None


async def _refusal(call: Awaitable[object]) -> QueryError | None:
    """The QueryError `call` raises, or None if it succeeds."""
    try:
        await call
    except QueryError as exc:
        return exc
    return None


def _edit(token: str, change: Any) -> str:
    """The token with its JSON payload changed but its checksum kept."""
    data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    payload = json.loads(data[8:])
    raw = json.dumps(change(payload)).encode()
    return base64.urlsafe_b64encode(data[:8] + raw).rstrip(b"=").decode()


@pytest.mark.asyncio
async def test_skiptoken_is_bound_to_its_query(engine: AsyncEngine) -> None:
    query = {"managed_by": "ConfigMgr", "orderby": "osBuild desc", "top": 5}
    async with engine.connect() as conn:
        first = await list_devices(conn, TENANT_A, DeviceQuery(**query))
        token = first.next_skiptoken
        assert token is not None
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        same = await list_devices(conn, TENANT_A, DeviceQuery(**query, skiptoken=token))
        again = await list_devices(
            conn, TENANT_A, DeviceQuery(**{**query, "top": 50}, select=["id"], skiptoken=token)
        )
        assert [i["id"] for i in again.items[:5]] == [i["id"] for i in same.items]
        _, scope, _, device_id = json.loads(base64.urlsafe_b64decode(token + "==")[8:])
        others = [
            (TENANT_A, {**query, "managed_by": "Intune"}, token),
            (TENANT_A, {**query, "name_contains": "wks"}, token),
            (TENANT_A, {**query, "orderby": "osBuild"}, token),
            (TENANT_A, {**query, "orderby": "deviceName desc"}, token),
            (TENANT_B, query, token),
            (TENANT_A, query, token[:-3]),
            (TENANT_A, query, token[:20] + ("A" if token[20] != "A" else "B") + token[21:]),
            (TENANT_A, query, _edit(token, lambda p: [p[0], p[1], 19045, p[3]])),
            (TENANT_A, query, encode_token(scope, Position("not a build", device_id))),
            (TENANT_A, query, encode_token(scope, Position(2**70, device_id))),
            (TENANT_A, query, encode_token(scope, Position(22631, "x\x00"))),
            (TENANT_A, query, encode_token(scope, Position(datetime(2026, 1, 1), device_id))),
            (TENANT_A, query, ""),
            (TENANT_A, query, "garbage"),
            (TENANT_A, query, "not a token!"),
            (TENANT_A, query, base64.urlsafe_b64encode(b"\x00" * 8 + b"{}").decode().rstrip("=")),
        ]
        for tenant, params, bad in others:
            refusal = await _refusal(
                list_devices(conn, tenant, DeviceQuery(**params, skiptoken=bad))
            )
            assert refusal is not None, f"accepted {bad!r} for {tenant} {params}"
            assert refusal.parameter == "$skiptoken", bad
        forged = encode_token(scope, Position(22631, device_id))
        assert (await list_devices(conn, TENANT_A, DeviceQuery(**query, skiptoken=forged))).items


@pytest.mark.asyncio
async def test_csv_export(
    engine: AsyncEngine, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _by_name(seeded.fleet.live(TENANT_A))
    rows, text = await read_csv(engine, TENANT_A)
    assert rows[0] == list(DEVICE_FIELDS)
    expected = [expected_item(r) for r in live]
    assert rows[1:] == [[expected_csv_cell(e[f]) for f in DEVICE_FIELDS] for e in expected]
    names = {row[1] for row in rows[1:]}
    assert {'\'=HYPERLINK("http://x.example"),1', 'Ünïcode, "quoted" PC', "東京-PC-01"} <= names
    assert {"'+SUM(A1)", "'-cmd", "'@import"} <= names
    assert '"\'=HYPERLINK(""http://x.example""),1"' in text
    assert text.endswith("\r\n")
    assert wire_time(live[0]["first_seen_at"]) in text

    monkeypatch.setattr(device_queries, "CSV_PAGE_SIZE", 7)
    chunks = [
        chunk
        async for chunk in stream_devices_csv(
            engine,
            TENANT_A,
            DeviceQuery(select=["lastActiveDateTime"], orderby="lastActiveDateTime desc", top=3),
        )
    ]
    assert len(chunks) == 1 + -(-len(live) // 7)
    paged = list(csv.reader(io.StringIO("".join(chunks), newline="")))
    assert paged[0] == ["id", "lastActiveDateTime"]
    assert [row[0] for row in paged[1:]] == expected_order(live, "lastActiveDateTime", True)


@pytest.mark.asyncio
async def test_detail_with_collections_and_history(engine: AsyncEngine, seeded: Seeded) -> None:
    fleet = seeded.fleet
    row = fleet.live(TENANT_A)[DETAIL_INDEX]
    events = sorted(
        (
            e
            for e in fleet.events
            if e["tenant_id"] == TENANT_A and e["device_id"] == row["device_id"]
        ),
        key=lambda e: e["at"],
        reverse=True,
    )
    intune = next(r for r in fleet.live(TENANT_A) if r["hierarchy_id"] is None)
    async with engine.connect() as conn:
        detail = await device_detail(conn, TENANT_A, row["device_id"], history=4)
        full = await device_detail(conn, TENANT_A, row["device_id"])
        none = await device_detail(conn, TENANT_A, row["device_id"], history=0)
        cloud_only = await device_detail(conn, TENANT_A, intune["device_id"])
        missing = await device_detail(conn, TENANT_A, "00000000-0000-4000-8000-000000000000")
        assert await device_detail(conn, TENANT_A, "a\x00") is None
        with pytest.raises(QueryError):
            await device_detail(conn, TENANT_A, row["device_id"], history=-1)
    assert detail is not None
    assert full is not None
    assert none is not None
    assert detail.device.model_dump(mode="json", by_alias=True) == expected_item(row)
    assert [(c.collection_id, c.name) for c in detail.collections] == [
        ("PS100014", "Pilot PS1"),
        ("PS1000FF", None),
        ("SMS00001", "All Systems"),
    ]
    assert (len(events), len(full.history), none.history) == (6, 6, [])
    assert [h.wire() for h in detail.history] == [
        {"at": wire_time(e["at"]), "kind": e["kind"], "sequence": e["sequence"], "batchId": None}
        for e in events[:4]
    ]
    assert detail.history[0].at.tzinfo is not None
    assert cloud_only is not None
    assert cloud_only.collections == []
    assert cloud_only.device.management_agent == "mdm"
    assert missing is None


@pytest.mark.asyncio
async def test_the_list_rows_equal_the_model_dump_key_order_included(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(*VIEW_COLUMNS))).mappings().all()
    assert rows
    chosen = ("id", "lastSyncDateTime", "osBuild", "managedBy")
    for row in rows:
        direct, modelled = wire_row(row, DEVICE_FIELDS), wire_item(device_out(row), DEVICE_FIELDS)
        assert list(direct.items()) == list(modelled.items())
        assert wire_row(row, chosen) == wire_item(device_out(row), chosen)
