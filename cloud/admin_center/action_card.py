"""A device's Actions card: what may be asked of it, and its recent actions with results.

The device page (`routes_devices`) includes it; the forms it shows post to
`routes_actions`, and only operators and admins see them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud.admin_center.web import Visit
from cloud.contract.actions import (
    ActionListQuery,
    ActionOut,
    ActionState,
    CatalogueEntry,
    ScriptOut,
    catalogue,
)
from cloud.contract.devices import DeviceOut
from cloud.service.routes_action_scripts import script_out
from cloud.store import actions as store
from cloud.store import scripts as script_store

RECENT = 10  # actions shown on a device's card
CANCELLABLE = (ActionState.QUEUED, ActionState.DISPATCHED)


@dataclass
class ActionsCard:
    """What a device's Actions card shows: what may be asked, and the recent actions."""

    device_id: str
    blocked: str | None
    catalogue: list[CatalogueEntry]
    scripts: list[ScriptOut]
    recent: list[ActionOut]
    cancellable: tuple[ActionState, ...] = CANCELLABLE


async def actions_card(visit: Visit, device: DeviceOut) -> ActionsCard:
    """The Actions card of `device` (the device page includes it)."""
    async with visit.state.engine.begin() as conn:
        await store.expire_overdue(conn, visit.tenant_id, visit.state.clock())
        query = ActionListQuery(device_id=device.id, top=RECENT)
        rows, _ = await store.list_actions(conn, visit.tenant_id, query)
        scripts = await script_store.list_scripts(conn, visit.tenant_id, include_retired=False)
        blocked = None
        try:
            await store.device_target(conn, visit.tenant_id, device.id)
        except store.NotActionable as exc:
            blocked = str(exc)
    return ActionsCard(
        device_id=device.id,
        blocked=blocked,
        catalogue=catalogue(),
        scripts=[script_out(s) for s in scripts],
        recent=[store.action_out(r) for r in rows],
    )
