"""Alembic migrations of the connector's state store."""
