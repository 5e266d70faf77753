"""Alembic migrations of the embedded site store (SQLite and PostgreSQL copies)."""
