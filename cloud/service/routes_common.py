"""What the admin API's route modules share: auth presets, time rendering, auditing."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from cloud.service.api import Call
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
