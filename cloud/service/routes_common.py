"""What the route modules share: auth presets, time rendering, auditing, the attached check."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.service.api import Call
from cloud.service.errors import ApiError
from cloud.store import attach as attach_store
from cloud.store import tenancy

ADMIN = {"auth": "admin", "listener": "admin"}


def aware(value: Any) -> Any:
    """A stored naive-UTC time as an aware one."""
    return value.replace(tzinfo=UTC) if value is not None else None


async def audit(
    conn: Any, call: Call, action: str, target: str | None, details: dict[str, Any] | None = None
) -> None:
    """Append an entry for the calling principal to the tenant's audit log."""
    principal = call.principal
    actor = f"principal:{principal.name}" if principal else "system"
    await tenancy.audit(
        conn,
        tenant_id=call.tenant_id,
        actor=actor,
        action=action,
        target=target,
        now=call.state.clock(),
        details=details,
    )


async def attached_connector(call: Call, conn: AsyncConnection) -> tuple[str, str]:
    """(tenant, hierarchy) of the calling connector, once registered and still attached."""
    who = call.connector
    assert who is not None
    row = await attach_store.get_hierarchy(conn, who.tenant_id, who.hierarchy_id)
    if row is None:
        raise ApiError("not_found", "register the hierarchy first (PUT /connector/v1/hierarchy)")
    if row["detached_at"] is not None:
        raise ApiError(
            "hierarchy_detached", "this hierarchy was detached; enroll again to re-attach"
        )
    return who.tenant_id, who.hierarchy_id
