"""Alembic environment for the embedded site store: runs on a connection it is handed."""

from __future__ import annotations

from alembic import context

from onprem.site_schema import site_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=site_metadata,
    version_table="cobridge_site_schema_version",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
