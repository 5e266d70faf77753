"""Ingest: devices/s for 1,000-device batches, beside a raw bulk insert of the same rows.

Both run on a fresh store of the same backend in the same run: the product
path (`apply_batch`: replay check, sequence guard, memberships, events,
linking, acknowledgement) against a bare executemany INSERT of the same
device rows. SQLite always; PostgreSQL when COBRIDGE_BENCH_PG_URL is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from cloud.contract.inventory import CoManagementInfo, DeviceRecord, IngestBatch
from cloud.store.attach import register_hierarchy
from cloud.store.engine import create_store_engine, migrate_store, store_urls
from cloud.store.ingest import apply_batch
from cloud.store.ingest_rows import device_values
from cloud.store.schema import devices
from cloud.store.tenancy import create_tenant

BATCH = 1000
NOW = datetime(2026, 11, 1, 9, 0)


def make_record(n: int) -> DeviceRecord:
    """A realistic device record (site-shaped values, a few collections)."""
    return DeviceRecord(
        smsid=f"GUID:{n:08X}-1111-4222-8333-444455556666",
        resource_id=16777220 + n,
        name=f"DESKTOP-{n:07X}",
        netbios_name=f"DESKTOP-{n:07X}",
        domain="CONTOSO",
        fqdn=f"desktop-{n:07x}.corp.contoso.com",
        os_name="Microsoft Windows NT Workstation 10.0",
        os_caption="Microsoft Windows 11 Enterprise",
        os_version="10.0.22631",
        os_build="10.0.22631",
        manufacturer="Dell Inc.",
        model="Latitude 5440",
        serial_number=f"7X{n:05X}",
        user_name="jdoe",
        distinguished_name=f"CN=DESKTOP-{n:07X},OU=Workstations,DC=corp,DC=contoso,DC=com",
        ad_site="London",
        is_virtual=False,
        aad_device_id=str(uuid.UUID(int=n + 1)),
        client=True,
        client_version="5.00.9128.1000",
        client_active=True,
        last_active_at=datetime(2026, 10, 31, 22, 0, tzinfo=UTC),
        health_evaluation="pass",
        comanagement=CoManagementInfo(
            mdm_enrolled=n % 3 == 0, policy_present=True, workload_flags=67
        ),
        collections=["SMS00001", "SMSDM003", f"PS1000{10 + n % 5}"],
        content_hash=hashlib.blake2b(str(n).encode(), digest_size=16).hexdigest(),
    )


async def _fresh(sync_url: sa.URL, async_url: sa.URL) -> tuple[sa.ext.asyncio.AsyncEngine, str]:
    migrate_store(sync_url)
    engine = create_store_engine(async_url)
    tenant_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await create_tenant(
            conn, tenant_id=tenant_id, name=tenant_id, ca_cert_pem="-", ca_sealed_key=b"-", now=NOW
        )
        await register_hierarchy(
            conn,
            tenant_id=tenant_id,
            hierarchy_id="H",
            site_code="PS1",
            site_name=None,
            site_version=None,
            connector_id="c",
            connector_version="bench",
            now=NOW,
        )
    return engine, tenant_id


async def _product(urls: tuple[sa.URL, sa.URL], records: list[DeviceRecord]) -> float:
    engine, tenant_id = await _fresh(*urls)
    started = time.perf_counter()
    for seq, start in enumerate(range(0, len(records), BATCH), 1):
        batch = IngestBatch(
            batch_id=uuid.uuid4(),
            hierarchy_id="H",
            sequence=seq,
            upserts=records[start : start + BATCH],
        )
        digest = hashlib.sha256(batch.model_dump_json().encode()).hexdigest()
        async with engine.begin() as conn:
            await apply_batch(conn, tenant_id, batch, digest=digest, now=NOW)
    seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds


async def _raw(urls: tuple[sa.URL, sa.URL], records: list[DeviceRecord]) -> float:
    engine, tenant_id = await _fresh(*urls)
    rows = [
        {
            **device_values(r),
            "tenant_id": tenant_id,
            "device_id": str(uuid.uuid4()),
            "hierarchy_id": "H",
            "smsid": r.smsid,
            "site_code": "PS1",
            "managed_by": "ConfigMgr",
            "first_seen_at": NOW,
            "updated_at": NOW,
        }
        for r in records
    ]
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        async with engine.begin() as conn:
            await conn.execute(devices.insert(), rows[start : start + BATCH])
    seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds


def _pg_urls(name: str) -> tuple[sa.URL, sa.URL] | None:
    base = os.environ.get("COBRIDGE_BENCH_PG_URL")
    if not base:
        return None
    url = sa.make_url(base).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return store_urls(url.set(database=name).render_as_string(hide_password=False), Path())


def run(*, large: bool, data_dir: str) -> None:
    """Run the ingest benchmark on SQLite, and PostgreSQL when configured."""
    count = 50_000 if large else 20_000
    records = [make_record(n) for n in range(count)]
    for backend in ("SQLite", "PostgreSQL"):
        results = []
        for label, fn in (("apply_batch (product)", _product), ("raw bulk INSERT", _raw)):
            if backend == "SQLite":
                urls = store_urls(
                    None, Path(tempfile.mkdtemp(dir=data_dir if Path(data_dir).exists() else None))
                )
            else:
                pg = _pg_urls(f"cobridge_bench_ingest_{'p' if fn is _product else 'r'}")
                if pg is None:
                    print("\nIngest: PostgreSQL skipped (set COBRIDGE_BENCH_PG_URL to include it)")
                    break
                urls = pg
            results.append((label, asyncio.run(fn(urls, records))))
        if len(results) == 2:
            print(f"\nIngest, {backend}: {count:,} devices in batches of {BATCH:,}")
            for label, seconds in results:
                print(f"  {label:<24} {seconds:7.2f} s  {count / seconds:10,.0f} devices/s")
            print(f"  product / raw = {results[0][1] / results[1][1]:.2f}x the time")
