"""B1: full sync of a seeded site to the tenant store, beside a naive client and a raw copy.

Targets (DESIGN.md section 14): >= 30x the devices/s of a naive client
sending one request per device (8 concurrent) to the same server; <= 5x the
time of a raw DB-to-DB copy of the same rows; 700k devices in < 60 s
(--large). Peak RSS of the connector process is reported.

All three run in the same run against the same service process and store
(PostgreSQL when COBRIDGE_BENCH_PG_URL is set, else SQLite):

- the connector's first cycle, as `cobridge connector run --once` runs it
  (enrolled in a warm-up; the figure is the cycle's own duration from its
  run record, the process's wall time is shown beside it);
- the naive client on a sample of the same site's records
  (COBRIDGE_BENCH_B1_NAIVE_DEVICES, default 3,000), in a tenant of its own;
- the raw copy: the reader's own chunked statements through the bare DB-API
  cursor, COPY (executemany on SQLite) into plain text-column tables of the
  tenant database. Only NUL in Name0 (which PostgreSQL cannot store) is dropped.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import psycopg
import sqlalchemy as sa

from bench.b5_site_read import _seeded
from bench.measure import Measurement, measure, report
from bench.sync_rig import (
    Service,
    backend,
    cloud_settings,
    connector_once,
    create_tenant,
    cycle_measurement,
    enroll_identity,
    env_int,
    fresh_dir,
    in_child,
    last_cycle,
    serving,
    site_identity,
    verdict,
    write_config,
)
from bridge.mapping import MappingRejected, device_record
from bridge.runtime.enrollment import load_identity
from bridge.tenant.connector import ConnectorClient
from cloud.contract.attach import HierarchyRegistration
from cloud.contract.inventory import DeviceRecord, IngestBatch
from onprem.site_database import create_site_engine
from onprem.site_reader import ReadScope, SiteReader
from onprem.site_records import SiteDevice
from onprem.site_statements import chunk_bounds, device_rows, membership_rows
from onprem.site_store import SiteIdentity

NAIVE_CONCURRENCY = 8
CHUNK = 5000


def sample_records(site: Path, count: int, out: Path) -> int:
    """The first `count` uploadable records of the site, as wire JSON lines in `out`."""
    engine = create_site_engine(f"sqlite:///{site}")
    written = 0
    try:
        with out.open("w") as handle:
            for item in SiteReader(engine).read():
                if written == count:
                    break
                if isinstance(item, SiteDevice) and item.live:
                    try:
                        record = device_record(item)
                    except MappingRejected:
                        continue
                    handle.write(record.model_dump_json(by_alias=True) + "\n")
                    written += 1
    finally:
        engine.dispose()
    return written


def naive_upload(records: str, connector_url: str, ca_file: str, identity_dir: str) -> int:
    """The naive client: one ingest request per device, 8 in flight."""
    identity = load_identity(Path(identity_dir))
    assert identity is not None
    devices = [
        DeviceRecord.model_validate_json(line) for line in Path(records).read_text().splitlines()
    ]

    async def main() -> None:
        client = ConnectorClient(
            None,
            connector_url,
            ca_pem=Path(ca_file).read_bytes(),
            cert_chain_pem=identity.chain_pem,
            key_pem=identity.key_pem,
        )
        async with client:
            await client.register_hierarchy(
                HierarchyRegistration(
                    hierarchy_id=identity.hierarchy_id, site_code="PS1", connector_version="naive"
                )
            )
            queue = list(enumerate(devices, 1))

            async def worker() -> None:
                while queue:
                    sequence, device = queue.pop()
                    batch = IngestBatch(
                        batch_id=uuid.uuid4(),
                        hierarchy_id=identity.hierarchy_id,
                        sequence=sequence,
                        upserts=[device],
                    )
                    await client.ingest(batch, compress=False)

            await asyncio.gather(*(worker() for _ in range(NAIVE_CONCURRENCY)))

    asyncio.run(main())
    return len(devices)


def raw_copy(site: str, target: str) -> int:
    """The reader's chunked statements, raw cursor, into plain tables of the tenant database."""
    engine = create_site_engine(f"sqlite:///{site}")
    scope = ReadScope()

    def sql(statement: sa.Select) -> str:
        return str(
            statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        )

    source = engine.raw_connection()
    pg = target.startswith("postgresql")
    if pg:
        plain = sa.make_url(target).set(drivername="postgresql")
        sink: psycopg.Connection | sqlite3.Connection = psycopg.connect(
            plain.render_as_string(hide_password=False)
        )
    else:
        sink = sqlite3.connect(target)
    rows = 0
    try:
        read = source.cursor()
        after = -(2**31)
        created = False
        while True:
            read.execute(sql(chunk_bounds(scope, after, CHUNK)))
            upper, count = read.fetchone()
            if not count:
                break
            read.execute(sql(device_rows(scope, after, upper)))
            columns = [d[0] for d in read.description]
            devices = read.fetchall()
            read.execute(sql(membership_rows(after, upper)))
            members = read.fetchall()
            if not created:
                _create_tables(sink, columns)
                created = True
            _insert(sink, pg, columns, devices, members)
            rows += len(devices)
            if count < CHUNK:
                break
            after = upper
        return rows
    finally:
        source.close()
        sink.close()
        engine.dispose()


def _create_tables(sink: psycopg.Connection | sqlite3.Connection, columns: list[str]) -> None:
    listed = ", ".join(f'"{c}" text' for c in columns)
    sink.execute(f"CREATE TABLE raw_devices ({listed})")
    sink.execute("CREATE TABLE raw_memberships (resource_id text, collection_id text)")
    sink.commit()


def _insert(
    sink: psycopg.Connection | sqlite3.Connection,
    pg: bool,
    columns: list[str],
    devices: list[tuple[object, ...]],
    members: list[tuple[object, ...]],
) -> None:
    name = columns.index("Name0")
    if pg:
        assert isinstance(sink, psycopg.Connection)
        with sink.cursor() as cursor:
            with cursor.copy("COPY raw_devices FROM STDIN") as copy:
                for row in devices:
                    value = row[name]
                    if isinstance(value, str) and "\x00" in value:
                        row = (*row[:name], value.replace("\x00", ""), *row[name + 1 :])
                    copy.write_row(row)
            with cursor.copy("COPY raw_memberships FROM STDIN") as copy:
                for row in members:
                    copy.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))
        sink.executemany(f"INSERT INTO raw_devices VALUES ({marks})", devices)
        sink.executemany("INSERT INTO raw_memberships VALUES (?, ?)", members)
    sink.commit()


def _one(devices: int, data_dir: Path) -> None:
    site = data_dir / f"site-{devices}.db"
    in_child(_seeded, f"sqlite:///{site}", devices)
    base = fresh_dir(data_dir / f"b1-{devices}")
    settings = cloud_settings(base, f"cobridge_bench_b1_{devices}")
    tenant, naive_tenant = create_tenant(settings, "b1"), create_tenant(settings, "b1-naive")
    identity = site_identity(site)
    sample = env_int("COBRIDGE_BENCH_B1_NAIVE_DEVICES", 3000)
    sampled = in_child(sample_records, site, sample, base / "naive-sample.jsonl")
    with serving(settings) as service:
        config = _prepare(base, site, service, tenant.codes[0], naive_tenant.codes[0], identity)
        naive = measure(
            f"naive client: 1 request/device, {NAIVE_CONCURRENCY} concurrent ({sampled:,} sample)",
            naive_upload,
            str(base / "naive-sample.jsonl"),
            service.connector_url,
            str(service.ca_file),
            str(base / "naive"),
        )
        process = measure("connector process (wall)", connector_once, str(config))
    cycle = cycle_measurement(
        "full sync cycle (connector)", process, last_cycle(base / "connector")
    )
    target = settings.db or str(base / "raw-copy.db")
    raw = measure("raw DB-to-DB copy, same rows", raw_copy, str(site), target)
    _report(devices, backend(settings), cycle, process, naive, raw)


def _prepare(
    base: Path, site: Path, service: Service, code: str, naive_code: str, identity: SiteIdentity
) -> Path:
    """Warm-up: enroll the connector and the naive client; the connector's settings."""
    enroll_identity(base / "connector", service, code, identity)
    enroll_identity(base / "naive", service, naive_code, identity)
    return write_config(
        base / "connector.toml", data_dir=base / "connector", site=site, service=service
    )


def _report(
    devices: int,
    store: str,
    cycle: Measurement,
    process: Measurement,
    naive: Measurement,
    raw: Measurement,
) -> None:
    versus_naive = cycle.rate / naive.rate
    versus_raw = cycle.seconds / raw.seconds
    notes = [
        f"full sync = {versus_naive:,.1f}x the naive client's devices/s (target >= 30x): "
        f"{verdict(versus_naive >= 30)}",
        f"full sync / raw copy = {versus_raw:.2f}x the time (target <= 5x): "
        f"{verdict(versus_raw <= 5)}",
        f"peak RSS of the connector process: {process.peak_rss_mb:.0f} MB",
    ]
    if devices >= 700_000:
        notes.append(
            f"{devices:,} devices in {cycle.seconds:.1f} s (target < 60 s): "
            f"{verdict(cycle.seconds < 60)}"
        )
    report(
        f"B1 full sync: {devices:,}-device site to the {store} tenant store "
        "(items: devices uploaded; raw copy: rows)",
        [cycle, process, naive, raw],
        notes,
    )


def run(*, large: bool, data_dir: str) -> None:
    """Run B1 at 100k devices (and 700k with --large)."""
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    for devices in (100_000, 700_000) if large else (100_000,):
        _one(devices, root)
