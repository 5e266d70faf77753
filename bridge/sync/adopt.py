"""A new state store starts from what the tenant holds, not from nothing.

Otherwise a re-installed connector would upload every device again and,
worse, never delete those that left the site meanwhile: it would not know
the tenant holds them. Adopted devices are acknowledged state like any other
(the next diff compares against their hashes; their deletes pass the guard).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bridge.state import ConnectorState
from bridge.tenant.connector import ConnectorClient

log = logging.getLogger("cobridge.sync")

# Devices written per transaction: memory stays bounded whatever the hierarchy's size.
ADOPT_CHUNK = 5000


async def adopt_tenant_devices(
    client: ConnectorClient, state: ConnectorState, clock: Callable[[], datetime]
) -> int:
    """Adopt the tenant's devices of this hierarchy into an empty state store; how many."""
    if await asyncio.to_thread(state.devices.count, include_tombstoned=True):
        return 0
    adopted = 0
    page: list[dict[str, object]] = []
    async for d in client.held_devices():
        page.append(
            {
                "smsid": d.smsid,
                "resource_id": d.resource_id or 0,
                "content_hash": d.content_hash or "",
                "name": d.name,
                "aad_device_id": d.aad_device_id,
                "serial": d.serial_number,
                "model": d.model,
                "acked_sequence": d.sequence or 0,
            }
        )
        if len(page) >= ADOPT_CHUNK:
            adopted += await asyncio.to_thread(state.devices.adopt, page, now=clock())
            page = []
    if page:
        adopted += await asyncio.to_thread(state.devices.adopt, page, now=clock())
    if adopted:
        log.warning("adopted %d device(s) the tenant already holds for this hierarchy", adopted)
    return adopted
