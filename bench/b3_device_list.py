"""B3: the devices list API, 100 per page, filtered, beside the same server sending a
pre-encoded body of the same size; first page against a deep page. Then the
admin center's devices page (50 rows, with counts, signed in with a session
cookie) beside the API list of the same query (`$top=50`, `$count=true`).

Targets (DESIGN.md section 14): >= 50% of the pre-encoded ceiling; a deep
page costs <= 1.5x the first. The service runs in its own process over
HTTPS; the load comes from this process (16 concurrent requests).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import statistics
import time
import uuid
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bench.cloud_ingest import NOW, make_record
from cloud.contract import tls
from cloud.contract.admin import Role
from cloud.service import bootstrap
from cloud.service.app import running
from cloud.service.settings import CloudSettings
from cloud.service.state import open_state
from cloud.store.ingest import device_values
from cloud.store.schema import devices, hierarchies

CONCURRENCY = 16
REQUESTS = 600
QUERY = {"operatingSystem": "Windows 11", "$top": "100"}
# The devices page's query (its "OS" filter) and the API's for the same rows.
PAGE_QUERY = {"os": "Windows 11"}
PAGE_API_QUERY = {"operatingSystem": "Windows 11", "$top": "50", "$count": "true"}
PASSWORD = "bench page password"


def _row(n: int, tenant_id: str) -> dict[str, object]:
    record = make_record(n)
    values = device_values(record)
    build = (22631, 19045, 26100, 20348)[n % 4]
    values.update(
        os_build=build,
        os_family="Windows Server"
        if build == 20348
        else ("Windows 11" if build >= 22000 else "Windows 10"),
        last_active_at=NOW.replace(minute=n % 60, second=n % 60),
    )
    return {
        **values,
        "tenant_id": tenant_id,
        "device_id": str(uuid.UUID(int=n)),
        "hierarchy_id": "H",
        "smsid": record.smsid,
        "site_code": "PS1",
        "managed_by": "ConfigMgr",
        "first_seen_at": NOW,
        "updated_at": NOW,
    }


async def _seed(settings: CloudSettings, count: int) -> tuple[str, str, str]:
    """Fill the store with `count` devices once (cached); (viewer token, tenant id, viewer)."""
    state = open_state(settings)
    async with state.engine.connect() as conn:
        present = (await conn.execute(sa.select(sa.func.count()).select_from(devices))).scalar_one()
    if present != count:
        print(f"  seeding {count:,} devices into the cloud store ...")
        started = time.perf_counter()
        tenant_id = await bootstrap.create_tenant(state, f"bench-{uuid.uuid4().hex[:6]}")
        async with state.engine.begin() as conn:
            await conn.execute(devices.delete())
            await conn.execute(
                hierarchies.insert().values(
                    tenant_id=tenant_id, hierarchy_id="H", site_code="PS1", registered_at=NOW
                )
            )
        for start in range(0, count, 5000):
            async with state.engine.begin() as conn:
                await conn.execute(
                    devices.insert(),
                    [_row(n, tenant_id) for n in range(start, min(count, start + 5000))],
                )
        if state.engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk load: without statistics the
            # planner guesses one row and picks the wrong index.
            async with state.engine.connect() as conn:
                await conn.execute(sa.text("ANALYZE devices"))
                await conn.commit()
        print(f"  seeded in {time.perf_counter() - started:.1f} s")
    async with state.engine.connect() as conn:
        tenant_id = (await conn.execute(sa.select(devices.c.tenant_id).limit(1))).scalar_one()
    name = f"viewer-{uuid.uuid4().hex[:6]}"
    await bootstrap.create_admin(state, tenant_id, name, Role.VIEWER, password=PASSWORD)
    _, token = await bootstrap.create_token(state, tenant_id, name, 1)
    await state.engine.dispose()
    return token, tenant_id, name


def _serve(
    settings: CloudSettings,
    body_size: multiprocessing.Value,
    ports: multiprocessing.Queue,
    stop: multiprocessing.Event,
) -> None:
    async def main() -> None:
        state = open_state(settings)

        async def preencoded(_request: web.Request) -> web.Response:
            return web.Response(body=payload[: body_size.value], content_type="application/json")

        payload = b'{"value": [' + b" " * (8 * 1024 * 1024) + b"]}"
        async with running(
            state, configure=lambda app: app.router.add_get("/_bench/preencoded", preencoded)
        ) as (port, _):
            ports.put(port)
            while not stop.is_set():
                await asyncio.sleep(0.1)

    asyncio.run(main())


async def _load(
    session: aiohttp.ClientSession, url: str, params: dict[str, str] | None
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = REQUESTS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with session.get(url, params=params) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(latencies) / (time.perf_counter() - started), latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def _signed_in(base: str, ca: bytes, tenant_id: str, user: str) -> aiohttp.ClientSession:
    """A cookie-keeping session signed in to the admin center as `user`."""
    session = aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(ssl=tls.client_context(ca), limit=CONCURRENCY),
    )
    async with session.get(f"{base}/sign-in") as page:
        found = re.search(r'name="csrf" value="([^"]*)"', await page.text())
    assert found, "the sign-in page has no CSRF field"
    form = {"csrf": found.group(1), "tenant": tenant_id, "user": user, "password": PASSWORD}
    async with session.post(f"{base}/sign-in", data=form, allow_redirects=False) as answer:
        assert answer.status == 303, answer.status
    return session


async def _measure_page(
    base: str, token: str, ca: bytes, tenant_id: str, user: str, count: int, backend: str
) -> None:
    """The devices page beside the API list endpoint, for the same query and page size."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=tls.client_context(ca), limit=CONCURRENCY),
        ) as api,
        await _signed_in(base, ca, tenant_id, user) as browser,
    ):
        async with browser.get(f"{base}/devices", params=PAGE_QUERY) as page:
            html = await page.text()
            assert page.status == 200, page.status
        rows = html.count("<tr") - 1  # less the heading row
        results = {
            "API list (50, $count)": await _load(api, f"{base}/api/v1/devices", PAGE_API_QUERY),
            "devices page (50, counts)": await _load(browser, f"{base}/devices", PAGE_QUERY),
        }
    print(f"\nB3 devices page: {backend}, {count:,} devices, {len(html):,}-byte page, {rows} rows")
    for label, (rate, latencies) in results.items():
        print(
            f"  {label:<30} {rate:8.1f} req/s  p50 {_pct(latencies, 50):6.1f} ms  p99 {_pct(latencies, 99):6.1f} ms"
        )
    ratio = results["devices page (50, counts)"][0] / results["API list (50, $count)"][0]
    print(f"  devices page = {ratio:.0%} of the API list's rate for the same query")


async def _measure(
    base: str, token: str, ca: bytes, body_size: multiprocessing.Value, count: int, backend: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(
        headers=headers,
        connector=aiohttp.TCPConnector(ssl=tls.client_context(ca), limit=CONCURRENCY),
    ) as session:
        async with session.get(f"{base}/api/v1/devices", params=QUERY) as response:
            first = await response.read()
            link = (await response.json()).get("@odata.nextLink")
        for _ in range(200):  # walk 200 pages in: ~20,000 rows deep
            async with session.get(link) as response:
                link = (await response.json()).get("@odata.nextLink")
        body_size.value = len(first)
        results = {
            "first page (filtered, 100)": await _load(session, f"{base}/api/v1/devices", QUERY),
            "deep page (200 pages in)": await _load(session, link, None),
            "pre-encoded body, same size": await _load(session, f"{base}/_bench/preencoded", None),
        }
    print(
        f"\nB3 devices list: {backend}, {count:,} devices, {len(first):,}-byte pages, {CONCURRENCY} concurrent"
    )
    for label, (rate, latencies) in results.items():
        print(
            f"  {label:<30} {rate:8.1f} req/s  p50 {_pct(latencies, 50):6.1f} ms  p99 {_pct(latencies, 99):6.1f} ms"
        )
    first_rate, ceiling = (
        results["first page (filtered, 100)"][0],
        results["pre-encoded body, same size"][0],
    )
    deep = statistics.median(results["deep page (200 pages in)"][1]) / statistics.median(
        results["first page (filtered, 100)"][1]
    )
    print(f"  first page = {first_rate / ceiling:.0%} of the pre-encoded ceiling (target >= 50%)")
    print(f"  deep / first page median latency = {deep:.2f}x (target <= 1.5x)")


def _one(settings: CloudSettings, count: int, backend: str) -> None:
    token, tenant_id, user = asyncio.run(_seed(settings, count))
    ctx = multiprocessing.get_context("spawn")
    body_size, ports, stop = ctx.Value("i", 0), ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(settings, body_size, ports, stop))
    server.start()
    try:
        port = ports.get(timeout=120)
        ca = (settings.data_dir / "service-root.pem").read_bytes()
        base = f"https://127.0.0.1:{port}"
        asyncio.run(_measure(base, token, ca, body_size, count, backend))
        asyncio.run(_measure_page(base, token, ca, tenant_id, user, count, backend))
    finally:
        stop.set()
        server.join(timeout=30)


def run(*, large: bool, data_dir: str) -> None:
    """Run B3 on SQLite, and on PostgreSQL when COBRIDGE_BENCH_PG_URL is set."""
    count = 700_000 if large else 100_000
    base = Path(data_dir).resolve() / f"cloud-{count}"
    _one(CloudSettings(data_dir=base, port=0, connector_port=0), count, "SQLite")
    pg = os.environ.get("COBRIDGE_BENCH_PG_URL")
    if not pg:
        print("\nB3: PostgreSQL skipped (set COBRIDGE_BENCH_PG_URL to include it)")
        return
    url = sa.make_url(pg).set(drivername="postgresql+psycopg")
    name = f"cobridge_bench_cloud_{count}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    db = url.set(database=name).render_as_string(hide_password=False)
    _one(
        CloudSettings(
            data_dir=base.with_name(f"cloud-pg-{count}"), db=db, port=0, connector_port=0
        ),
        count,
        "PostgreSQL",
    )
