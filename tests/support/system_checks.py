"""What the system fault tests check: the tenant against the site, and each batch applied once.

`assert_tenant_matches_site` compares, by SMSID, the devices the admin API
lists and the content hashes the tenant store holds with what the site reader
says the site holds (valid live records, less the connector's quarantine):
nothing missing, nothing extra, nothing stale. `batches_applied_once` compares the
tenant's record of ingested batches with the connector's outbox. Both read
the stores directly (SQLite files or PostgreSQL), never through connector code.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bridge.tenant.admin import AdminClient
from cloud.contract.devices import DeviceQuery
from tests.support.system_processes import Tenant
from tests.support.system_sites import expected_devices


def store_url(db: str | None, sqlite_file: Path) -> sa.URL:
    """The synchronous URL of a store: `db` (PostgreSQL) if given, else the SQLite file."""
    if db:
        return sa.make_url(db).set(drivername="postgresql+psycopg")
    return sa.make_url(f"sqlite:///{sqlite_file}")


def query(url: sa.URL, sql: str, **params: Any) -> list[sa.Row[Any]]:
    """Rows of one read-only statement on a store."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()


def api_smsids(tenant: Tenant) -> list[str]:
    """The SMSIDs of every device the admin API lists (duplicates kept, to be caught)."""

    async def collect() -> list[str]:
        service = tenant.service
        client = AdminClient(
            service.api_url, None, ca_pem=service.root_pem.read_bytes(), token=tenant.token
        )
        async with client:
            found = []
            async for device in client.iter_devices(DeviceQuery(top=1000)):
                if isinstance(device.get("smsid"), str):
                    found.append(device["smsid"])
            return found

    return asyncio.run(collect())


@dataclass(frozen=True)
class Stores:
    """Where one test's tenant store and connector state store are."""

    cloud: sa.URL
    connector: sa.URL
    tenant_id: str


def quarantined(stores: Stores) -> set[str]:
    """SMSIDs the connector quarantined (kept out of the tenant on purpose)."""
    rows = query(stores.connector, "SELECT smsid FROM connector_quarantine WHERE smsid IS NOT NULL")
    return {r.smsid.strip("{}").upper() for r in rows}


def _diff(what: str, expected: set[str], found: set[str]) -> list[str]:
    problems = []
    if missing := sorted(expected - found):
        problems.append(f"{what}: {len(missing)} missing, e.g. {missing[:5]}")
    if extra := sorted(found - expected):
        problems.append(f"{what}: {len(extra)} unexpected, e.g. {extra[:5]}")
    return problems


def tenant_problems(site_db: str, stores: Stores, tenant: Tenant) -> tuple[list[str], int]:
    """Every way the tenant differs from the site (none: exactly equal), and the devices expected."""
    site = expected_devices(site_db)
    kept_out = quarantined(stores)
    expected = {smsid: digest for smsid, digest in site.items() if smsid not in kept_out}
    listed = api_smsids(tenant)
    problems = _diff("admin API", set(expected), set(listed))
    duplicates = [smsid for smsid, n in Counter(listed).items() if n > 1]
    if duplicates:
        problems.append(f"admin API lists {len(duplicates)} SMSID(s) twice, e.g. {duplicates[:5]}")
    rows = query(
        stores.cloud,
        "SELECT smsid, content_hash FROM devices "
        "WHERE tenant_id = :t AND smsid IS NOT NULL AND deleted_at IS NULL",
        t=stores.tenant_id,
    )
    held = {r.smsid: r.content_hash for r in rows}
    problems += _diff("tenant store", set(expected), set(held))
    stale = sorted(s for s in set(expected) & set(held) if expected[s] != held[s])
    if stale:
        problems.append(
            f"tenant store: {len(stale)} device(s) with stale content, e.g. {stale[:5]}"
        )
    return problems, len(expected)


def assert_tenant_matches_site(site_db: str, stores: Stores, tenant: Tenant, when: str) -> int:
    """Exact equality of the tenant and the site; how many devices the tenant holds."""
    problems, expected = tenant_problems(site_db, stores, tenant)
    assert not problems, f"{when}: the tenant differs from the site:\n  " + "\n  ".join(problems)
    return expected


@dataclass(frozen=True)
class BatchLedger:
    """What both sides recorded of the batches: applied by the tenant, acknowledged, replayed."""

    applied: int
    acknowledged: int
    replayed: int
    pending: int


def batches_applied_once(stores: Stores) -> BatchLedger:
    """Check that every batch the tenant applied is one batch of the outbox, applied once."""
    applied = query(
        stores.cloud,
        "SELECT batch_id, sequence FROM ingest_batches WHERE tenant_id = :t",
        t=stores.tenant_id,
    )
    by_id = {r.batch_id: r.sequence for r in applied}
    assert len(by_id) == len(applied), "the tenant recorded a batch id twice"
    sequences = Counter(r.sequence for r in applied)
    reused = sorted(s for s, n in sequences.items() if n > 1)
    assert not reused, f"two applied batches share sequence(s) {reused[:10]}"
    events = query(
        stores.cloud,
        "SELECT device_id, batch_id, kind, COUNT(*) AS n FROM device_events WHERE tenant_id = :t "
        "GROUP BY device_id, batch_id, kind HAVING COUNT(*) > 1",
        t=stores.tenant_id,
    )
    assert not events, f"one batch changed a device twice: {[tuple(e) for e in events[:5]]}"
    outbox = query(stores.connector, "SELECT batch_id, sequence, status, ack FROM connector_outbox")
    acked = {r.batch_id: r for r in outbox if r.status == "acked"}
    # The outbox keeps only the last 1000 closed batches: older ones cannot be compared.
    oldest = min((r.sequence for r in outbox), default=0)
    unknown = sorted(b for b, sequence in by_id.items() if sequence >= oldest and b not in acked)
    assert not unknown, (
        f"the tenant applied batches the connector never acknowledged: {unknown[:5]}"
    )
    lost = sorted(set(acked) - set(by_id))
    assert not lost, f"acknowledged batches the tenant has no record of: {lost[:5]}"
    moved = [b for b, row in acked.items() if row.sequence != by_id[b]]
    assert not moved, f"batches whose sequence differs between the two sides: {moved[:5]}"
    replayed = 0
    for row in acked.values():
        ack = row.ack if isinstance(row.ack, dict) else json.loads(row.ack)
        replayed += bool(ack.get("replayed"))
    pending = sum(r.status == "pending" for r in outbox)
    return BatchLedger(len(by_id), len(acked), replayed, pending)


def cursor(stores: Stores) -> tuple[Any, ...] | None:
    """The connector's site cursor row (instance id, cursor, updated_at), or None."""
    rows = query(
        stores.connector,
        "SELECT instance_id, cursor, updated_at FROM connector_sources WHERE source = 'site'",
    )
    return tuple(rows[0]) if rows else None
