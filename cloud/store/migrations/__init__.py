"""Alembic migrations of the cloud store."""
