"""Alembic environment for the connector's state store: runs on a connection it is handed."""

from __future__ import annotations

from typing import Any

from alembic import context

from bridge.state.engine import VERSION_TABLE
from bridge.state.schema import state_metadata


def _ours(name: str | None, type_: str, _parents: dict[str, Any]) -> bool:
    # The store may share a PostgreSQL database: never propose to touch others' tables.
    return type_ != "table" or name in state_metadata.tables


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=state_metadata,
    version_table=VERSION_TABLE,
    include_name=_ours,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
