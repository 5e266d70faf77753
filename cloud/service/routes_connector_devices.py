"""What the tenant holds of the calling connector's hierarchy, for a connector to adopt.

`GET /connector/v1/devices?after=&top=` pages through the live (not
tombstoned) attached devices of the connector's own hierarchy, by SMSID,
over the site-key index. Only keys and content hashes: enough for a
connector with a new state store to resume with a delta instead of a
blind full upload that would leave deleted devices behind.
"""

from __future__ import annotations

import sqlalchemy as sa

from cloud.contract.inventory import HeldDevice, HeldDevicePage, HeldDevicesQuery
from cloud.service.api import Api, Call
from cloud.store.schema import devices

api = Api()
CONNECTOR = {"auth": "connector", "listener": "connector", "tags": ("connector",)}


@api.route(
    "GET", "/connector/v1/devices", query=HeldDevicesQuery, response=HeldDevicePage, **CONNECTOR
)
async def held_devices(call: Call) -> HeldDevicePage:
    """Page through the devices the tenant holds for this connector's hierarchy."""
    query: HeldDevicesQuery = call.query
    who = call.connector
    assert who is not None
    c = devices.c
    stmt = (
        sa.select(
            c.smsid,
            c.resource_id,
            c.name,
            c.aad_device_id,
            c.serial_number,
            c.model,
            c.content_hash,
            c.sequence,
        )
        .where(
            c.tenant_id == who.tenant_id,
            c.hierarchy_id == who.hierarchy_id,
            c.deleted_at.is_(None),
            c.smsid.is_not(None),
        )
        .order_by(c.smsid)
        .limit(query.top + 1)
    )
    if query.after is not None:
        stmt = stmt.where(c.smsid > query.after)
    async with call.state.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    more = len(rows) > query.top
    rows = rows[: query.top]
    return HeldDevicePage(
        value=[HeldDevice.model_validate(r._asdict()) for r in rows],
        next_after=rows[-1].smsid if more and rows else None,
    )
