"""Approved scripts of a tenant: their text, kept with its SHA-256, and retirement.

A script is never changed or deleted: a new text is a new script. Retiring
one stops new actions from asking for it and cancels its actions still
queued (those already with the connector run the text that was approved).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.actions import ActionState, script_digest
from cloud.store.schema import action_scripts, device_actions

# The script list shows this many, newest first.
SCRIPTS_SHOWN = 500
_SUMMARY = [c for c in action_scripts.c if c.name != "content"]


async def create_script(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    name: str,
    description: str,
    content: str,
    approved_by: str,
    approved_by_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Store a newly approved script; its row (with the SHA-256 of its UTF-8 text)."""
    row = {
        "tenant_id": tenant_id,
        "script_id": str(uuid.uuid4()),
        "name": name,
        "description": description,
        "content": content,
        "sha256": script_digest(content),
        "size": len(content.encode("utf-8")),
        "approved_by": approved_by,
        "approved_by_id": approved_by_id,
        "approved_at": now,
        "retired_by": None,
        "retired_at": None,
    }
    await conn.execute(action_scripts.insert().values(**row))
    return row


async def get_script(conn: AsyncConnection, tenant_id: str, script_id: str) -> sa.RowMapping | None:
    """The tenant's script with its text, or None."""
    stmt = sa.select(action_scripts).where(
        action_scripts.c.tenant_id == tenant_id, action_scripts.c.script_id == script_id
    )
    return (await conn.execute(stmt)).mappings().first()


async def list_scripts(
    conn: AsyncConnection, tenant_id: str, *, include_retired: bool = True
) -> list[sa.RowMapping]:
    """The tenant's scripts without their text, newest first."""
    stmt = sa.select(*_SUMMARY).where(action_scripts.c.tenant_id == tenant_id)
    if not include_retired:
        stmt = stmt.where(action_scripts.c.retired_at.is_(None))
    stmt = stmt.order_by(
        action_scripts.c.approved_at.desc(), action_scripts.c.script_id.desc()
    ).limit(SCRIPTS_SHOWN)
    return list((await conn.execute(stmt)).mappings().all())


async def retire_script(
    conn: AsyncConnection,
    tenant_id: str,
    script_id: str,
    *,
    retired_by: str,
    now: datetime,
) -> int:
    """Retire the script (once; again changes nothing); how many queued actions it cancelled."""
    await conn.execute(
        action_scripts.update()
        .where(
            action_scripts.c.tenant_id == tenant_id,
            action_scripts.c.script_id == script_id,
            action_scripts.c.retired_at.is_(None),
        )
        .values(retired_at=now, retired_by=retired_by)
    )
    cancelled = await conn.execute(
        device_actions.update()
        .where(
            device_actions.c.tenant_id == tenant_id,
            device_actions.c.script_id == script_id,
            device_actions.c.state == ActionState.QUEUED.value,
        )
        .values(
            state=ActionState.CANCELLED.value,
            completed_at=now,
            cancelled_by=retired_by,
            error_code="script_retired",
            error_message="the script was retired before a connector claimed the action",
        )
    )
    return cancelled.rowcount
