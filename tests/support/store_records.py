"""Builders for cloud-store tests: tenants, hierarchies and device records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.inventory import CoManagementInfo, DeviceRecord, IngestBatch, Tombstone
from cloud.store.attach import register_hierarchy
from cloud.store.tenancy import create_tenant

NOW = datetime(2026, 11, 1, 9, 0, 0)


async def make_tenant(conn: AsyncConnection, name: str) -> str:
    """A tenant with a placeholder CA (store tests do not sign anything)."""
    tenant_id = str(uuid.uuid4())
    await create_tenant(
        conn, tenant_id=tenant_id, name=name, ca_cert_pem="-", ca_sealed_key=b"-", now=NOW
    )
    return tenant_id


async def make_hierarchy(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str = "H-PS1", site: str = "PS1"
) -> str:
    """A registered hierarchy."""
    await register_hierarchy(
        conn,
        tenant_id=tenant_id,
        hierarchy_id=hierarchy_id,
        site_code=site,
        site_name=f"Site {site}",
        site_version="5.00.9128.1000",
        connector_id="c-1",
        connector_version="test",
        now=NOW,
    )
    return hierarchy_id


def smsid(n: int) -> str:
    """A valid SMSID for device number n."""
    return f"GUID:{n:08X}-1111-4222-8333-444455556666"


def record(n: int, **overrides: Any) -> DeviceRecord:
    """A valid device record for device number n."""
    data: dict[str, Any] = {
        "smsid": smsid(n),
        "resource_id": 16777220 + n,
        "name": f"WKS{n:05d}",
        "os_name": "Microsoft Windows NT Workstation 10.0",
        "os_build": "10.0.22631",
        "client": True,
        "client_active": True,
        "last_active_at": datetime(2026, 10, 31, 22, 0, tzinfo=UTC),
        "health_evaluation": "pass",
        "collections": ["SMS00001"],
        "content_hash": f"hash-{n:06d}-v1",
    }
    data.update(overrides)
    return DeviceRecord.model_validate(data)


def batch(
    hierarchy_id: str,
    sequence: int,
    upserts: list[DeviceRecord] = (),
    tombstones: list[int] = (),
    **kw: Any,
) -> IngestBatch:  # type: ignore[assignment]
    """A batch with a fresh id."""
    return IngestBatch(
        batch_id=kw.pop("batch_id", uuid.uuid4()),
        hierarchy_id=hierarchy_id,
        sequence=sequence,
        upserts=list(upserts),
        tombstones=[Tombstone(smsid=smsid(n)) for n in tombstones],
        **kw,
    )


def comanaged(flags: int = 67) -> CoManagementInfo:
    """The site's state of a co-managed device."""
    return CoManagementInfo(
        mdm_enrolled=True, policy_present=True, hybrid_aad_joined=True, workload_flags=flags
    )
