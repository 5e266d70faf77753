"""Contract suite for inventory ingest in the cloud store, on every backend."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.contract.inventory import CollectionRecord, IngestBatch
from cloud.store.engine import create_store_engine
from cloud.store.ingest import BatchConflict, apply_batch
from cloud.store.linking import enroll_mdm_device
from cloud.store.schema import (
    device_collections,
    device_events,
    devices,
    hierarchies,
    identity_disputes,
)
from tests.support.store_records import (
    NOW,
    batch,
    comanaged,
    make_hierarchy,
    make_tenant,
    record,
    smsid,
)

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def engine(store_urls: tuple[sa.URL, sa.URL]) -> AsyncIterator[AsyncEngine]:
    """An async engine on a migrated store."""
    engine = create_store_engine(store_urls[1])
    yield engine
    await engine.dispose()


def digest_of(b: IngestBatch) -> str:
    """What the service computes for a batch body."""
    return hashlib.sha256(b.model_dump_json(by_alias=True).encode()).hexdigest()


async def apply(engine: AsyncEngine, tenant_id: str, b: IngestBatch, digest: str | None = None):  # type: ignore[no-untyped-def]
    """Apply one batch in its own transaction."""
    async with engine.begin() as conn:
        return await apply_batch(conn, tenant_id, b, digest=digest or digest_of(b), now=NOW)


async def live_devices(engine: AsyncEngine, tenant_id: str) -> dict[str, sa.Row]:
    """Non-deleted attached devices of the tenant by SMSID."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(devices).where(
                devices.c.tenant_id == tenant_id, devices.c.deleted_at.is_(None)
            )
        )
        return {r.smsid: r for r in rows}


async def setup(engine: AsyncEngine) -> tuple[str, str]:
    """A tenant with a registered hierarchy."""
    async with engine.begin() as conn:
        tenant = await make_tenant(conn, f"t-{uuid.uuid4().hex[:6]}")
        hierarchy = await make_hierarchy(conn, tenant)
    return tenant, hierarchy


async def test_upserts_create_devices_with_derived_fields(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    ack = await apply(engine, tenant, batch(h, 1, [record(1), record(2, comanagement=None)]))
    assert (ack.upserted, ack.unchanged, ack.stale, ack.tombstoned, ack.replayed) == (
        2,
        0,
        0,
        0,
        False,
    )
    rows = await live_devices(engine, tenant)
    assert set(rows) == {smsid(1), smsid(2)}
    row = rows[smsid(1)]
    assert (row.os_family, row.os_build, row.site_code, row.managed_by) == (
        "Windows 11",
        22631,
        "PS1",
        "ConfigMgr",
    )
    assert row.name_key == "wks00001"
    assert row.collections == ["SMS00001"]


async def test_replay_changes_nothing_and_returns_the_first_ack(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    b = batch(h, 1, [record(1), record(2)], tombstones=[])
    first = await apply(engine, tenant, b)
    before = await live_devices(engine, tenant)
    again = await apply(engine, tenant, b)
    assert again.replayed
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert await live_devices(engine, tenant) == before
    async with engine.connect() as conn:
        events = (
            await conn.execute(sa.select(sa.func.count()).select_from(device_events))
        ).scalar_one()
    assert events == 2


async def test_same_batch_id_with_other_content_is_refused(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    b = batch(h, 1, [record(1)])
    await apply(engine, tenant, b)
    other = batch(h, 1, [record(1, name="CHANGED")], batch_id=b.batch_id)
    with pytest.raises(BatchConflict):
        await apply(engine, tenant, other)
    assert (await live_devices(engine, tenant))[smsid(1)].name == "WKS00001"


async def test_older_sequence_never_overwrites_newer(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    await apply(engine, tenant, batch(h, 7, [record(1, name="NEW", content_hash="hash-new-0001")]))
    late = await apply(
        engine, tenant, batch(h, 5, [record(1, name="OLD", content_hash="hash-old-0001")])
    )
    assert (late.upserted, late.stale) == (0, 1)
    assert (await live_devices(engine, tenant))[smsid(1)].name == "NEW"
    stale_delete = await apply(engine, tenant, batch(h, 6, tombstones=[1]))
    assert stale_delete.tombstoned == 0
    assert smsid(1) in await live_devices(engine, tenant)


async def test_unchanged_content_moves_the_sequence_on(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    await apply(engine, tenant, batch(h, 1, [record(1)]))
    same = await apply(engine, tenant, batch(h, 3, [record(1)]))
    assert (same.upserted, same.unchanged) == (0, 1)
    late = await apply(
        engine, tenant, batch(h, 2, [record(1, name="BETWEEN", content_hash="hash-between-1")])
    )
    assert late.stale == 1, "sequence 3 was applied, so 2 is stale even though 3 changed nothing"


async def test_tombstone_then_recreate(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    await apply(
        engine, tenant, batch(h, 1, [record(1, collections=["SMS00001", "PS100014"]), record(2)])
    )
    gone = await apply(engine, tenant, batch(h, 2, tombstones=[1, 99]))
    assert gone.tombstoned == 1, "an unknown SMSID is no error and counts nothing"
    assert set(await live_devices(engine, tenant)) == {smsid(2)}
    async with engine.connect() as conn:
        members = (
            (await conn.execute(sa.select(device_collections.c.collection_id))).scalars().all()
        )
    assert members == ["SMS00001"], "a deleted device leaves its collections"
    back = await apply(engine, tenant, batch(h, 3, [record(1)]))
    assert back.upserted == 1
    assert set(await live_devices(engine, tenant)) == {smsid(1), smsid(2)}


async def test_collections_follow_the_record(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    names = [
        CollectionRecord(
            collection_id="PS100014", name="Pilot", collection_type=2, limit_to="SMS00001"
        )
    ]
    await apply(
        engine,
        tenant,
        batch(h, 1, [record(1, collections=["SMS00001", "PS100014"])], collections=names),
    )
    await apply(
        engine,
        tenant,
        batch(h, 2, [record(1, collections=["SMS00001"], content_hash="hash-v2-00001")]),
    )
    async with engine.connect() as conn:
        members = (
            (await conn.execute(sa.select(device_collections.c.collection_id))).scalars().all()
        )
    assert members == ["SMS00001"]


async def test_tenants_are_isolated(engine: AsyncEngine) -> None:
    tenant_a, h = await setup(engine)
    tenant_b, _ = await setup(engine)
    await apply(engine, tenant_a, batch(h, 1, [record(1)]))
    await apply(
        engine, tenant_b, batch(h, 1, [record(1, name="B-ONE", content_hash="hash-tenant-b")])
    )
    assert (await live_devices(engine, tenant_a))[smsid(1)].name == "WKS00001"
    assert (await live_devices(engine, tenant_b))[smsid(1)].name == "B-ONE"
    gone = await apply(engine, tenant_b, batch(h, 2, tombstones=[1]))
    assert gone.tombstoned == 1
    assert smsid(1) in await live_devices(engine, tenant_a)


async def test_site_comanagement_makes_a_device_co_managed(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    await apply(engine, tenant, batch(h, 1, [record(1, comanagement=comanaged(67))]))
    row = (await live_devices(engine, tenant))[smsid(1)]
    assert (row.managed_by, row.comanagement_flags) == ("Co-managed", 67)


AAD = "0b9c1e5e-5a53-4b3e-9d2f-1a2b3c4d5e6f"


async def test_mdm_enrolled_device_is_linked_not_duplicated(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    async with engine.begin() as conn:
        mdm_id, outcome = await enroll_mdm_device(
            conn,
            tenant,
            aad_device_id=AAD,
            device_name="wks00001",
            os_version="10.0.22631",
            now=NOW,
        )
    assert outcome == "created"
    ack = await apply(engine, tenant, batch(h, 1, [record(1, aad_device_id=AAD)]))
    assert ack.upserted == 1
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(devices).where(devices.c.tenant_id == tenant))).all()
        kinds = (
            (await conn.execute(sa.select(device_events.c.kind).order_by(device_events.c.kind)))
            .scalars()
            .all()
        )
    assert len(rows) == 1, "one device, not an attached one and an MDM one"
    assert rows[0].managed_by == "Co-managed"
    assert rows[0].mdm_enrolled_at is not None
    assert rows[0].device_id != mdm_id
    assert kinds == ["created", "enrolled", "linked"], "the MDM record's history moved over"


async def test_two_attached_devices_with_one_aad_id_are_disputed(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    await apply(
        engine, tenant, batch(h, 1, [record(1, aad_device_id=AAD), record(2, aad_device_id=AAD)])
    )
    async with engine.begin() as conn:
        _, outcome = await enroll_mdm_device(
            conn, tenant, aad_device_id=AAD, device_name="wks00001", os_version=None, now=NOW
        )
    assert outcome == "disputed"
    async with engine.connect() as conn:
        dispute = (await conn.execute(sa.select(identity_disputes))).one()
        managed = (
            (await conn.execute(sa.select(devices.c.managed_by).order_by(devices.c.managed_by)))
            .scalars()
            .all()
        )
    assert dispute.key_value == AAD
    assert sorted(c["smsid"] for c in dispute.candidates) == [smsid(1), smsid(2)]
    assert managed == ["ConfigMgr", "ConfigMgr", "Intune"], "nothing linked automatically"


async def test_hierarchy_records_the_highest_applied_sequence(engine: AsyncEngine) -> None:
    tenant, h = await setup(engine)
    for seq in (3, 9, 4):
        await apply(engine, tenant, batch(h, seq, [record(seq)]))
    async with engine.connect() as conn:
        value = (
            await conn.execute(
                sa.select(hierarchies.c.last_applied_sequence).where(
                    hierarchies.c.tenant_id == tenant
                )
            )
        ).scalar_one()
    assert value == 9
