"""Alembic environment for the cloud store: runs on a connection it is handed."""

from __future__ import annotations

from alembic import context

from cloud.store.schema import cloud_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=cloud_metadata,
    version_table="cobridge_cloud_schema_version",
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
