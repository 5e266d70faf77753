"""Reading a tenant's audit log: newest first, filtered, in keyset pages.

Entries are ordered by (at, entry_id) descending; a page's last entry is the
cursor of the next, so paging never skips or repeats an entry however many
are appended meanwhile (new ones are newer than any cursor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.store.schema import audit_log


@dataclass(frozen=True)
class AuditCursor:
    """Where a page ends: the (at, entry_id) of its last entry."""

    at: datetime
    entry_id: str

    def token(self) -> str:
        """The cursor as one URL-safe string."""
        return f"{self.at.isoformat()}|{self.entry_id}"

    @classmethod
    def parse(cls, token: str) -> AuditCursor | None:
        """The cursor a `token()` string names, or None when it names none."""
        at, _, entry_id = token.partition("|")
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            return None
        if not entry_id or len(entry_id) > 36 or moment.tzinfo is not None:
            return None
        return cls(moment, entry_id)


@dataclass(frozen=True)
class AuditPage:
    """Entries of one page, newest first, and the cursor of the next (None: the last page)."""

    entries: list[dict[str, Any]]
    next_cursor: AuditCursor | None


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def read_audit(
    conn: AsyncConnection,
    tenant_id: str,
    *,
    action_prefix: str | None = None,
    actor_contains: str | None = None,
    after: AuditCursor | None = None,
    limit: int = 50,
) -> AuditPage:
    """One page of the tenant's audit entries, newest first, after `after`."""
    stmt = sa.select(audit_log).where(audit_log.c.tenant_id == tenant_id)
    if action_prefix:
        stmt = stmt.where(audit_log.c.action.like(_escaped(action_prefix) + "%", escape="\\"))
    if actor_contains:
        stmt = stmt.where(audit_log.c.actor.like(f"%{_escaped(actor_contains)}%", escape="\\"))
    if after is not None:
        stmt = stmt.where(
            sa.or_(
                audit_log.c.at < after.at,
                sa.and_(audit_log.c.at == after.at, audit_log.c.entry_id < after.entry_id),
            )
        )
    stmt = stmt.order_by(audit_log.c.at.desc(), audit_log.c.entry_id.desc()).limit(limit + 1)
    rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = AuditCursor(rows[-1]["at"], rows[-1]["entry_id"])
    return AuditPage(rows, following)


async def audit_actions(conn: AsyncConnection, tenant_id: str) -> list[str]:
    """The actions the tenant's log holds, for a filter's choices."""
    stmt = (
        sa.select(audit_log.c.action)
        .where(audit_log.c.tenant_id == tenant_id)
        .group_by(audit_log.c.action)
        .order_by(audit_log.c.action)
    )
    return list((await conn.execute(stmt)).scalars())
