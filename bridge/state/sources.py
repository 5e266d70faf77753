"""Sources and their cursors: which instance of a source the state covers, and how far.

A source ("site", later "directory") is identified by its instance id
(`onprem.site_store.SiteIdentity.instance_id` for a site). The cursor is
opaque to this store. DESIGN.md section 6: a cursor is stored with the
instance id in the same transaction as the state it covers, and never past a
record that was not acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bridge.state.errors import CursorAhead, StateError
from bridge.state.schema import outbox, sources
from bridge.state.scope import Scope, from_db, insert_for, to_db

# Sources whose records reach the tenant through the outbox: their cursor may
# never pass a record the tenant has not acknowledged. The directory's cursor
# covers what the connector's own state holds of it.
OUTBOX_SOURCES = frozenset({"site"})


@dataclass(frozen=True)
class SourceCursor:
    """What the state covers of one source: its instance and the cursor reached."""

    source: str
    instance_id: str
    cursor: str | None
    updated_at: datetime


class SourceCursors:
    """Per-source instance ids and cursors."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def get(self, source: str) -> SourceCursor | None:
        """The stored instance and cursor of `source`, or None before its first checkpoint."""
        with self._scope.read("reading a source cursor") as conn:
            row = conn.execute(sa.select(sources).where(sources.c.source == source)).first()
        if row is None:
            return None
        return SourceCursor(row.source, row.instance_id, row.cursor, from_db(row.updated_at))

    def instance_changed(self, source: str, instance_id: str) -> bool:
        """Whether the state cannot be trusted for this instance, so a full sync is due.

        True when a different instance was recorded (a database restored from
        backup, a domain controller restored) and also when none was recorded
        yet: either way no cursor of this store applies to `instance_id`.
        """
        found = self.get(source)
        return found is None or found.instance_id != instance_id

    def save(self, source: str, instance_id: str, cursor: str | None, *, now: datetime) -> None:
        """Record that the state now covers `instance_id` up to `cursor`.

        Only inside `ConnectorState.transaction()`, beside the writes the
        cursor covers; and, for a source whose records travel through the
        outbox (`OUTBOX_SOURCES`), only while no batch awaits its acknowledgement.
        """
        if not self._scope.in_transaction:
            raise StateError(
                "a source cursor is saved only inside the transaction that writes the state "
                "it covers",
                hint="call it on the object ConnectorState.transaction() yields",
            )
        with self._scope.write("saving a source cursor") as conn:
            waiting = 0
            if source in OUTBOX_SOURCES:
                waiting = conn.execute(
                    sa.select(sa.func.count()).where(outbox.c.status == "pending")
                ).scalar_one()
            if waiting:
                raise CursorAhead(
                    f"{waiting} batch(es) await acknowledgement: the {source} cursor may not "
                    "move past records the tenant has not acknowledged",
                    hint="acknowledge or abandon the pending batches first",
                )
            values = {"instance_id": instance_id, "cursor": cursor, "updated_at": to_db(now)}
            stmt = insert_for(self._scope, sources).values(source=source, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_=values))
