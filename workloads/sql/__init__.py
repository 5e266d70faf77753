"""SQL engine plumbing shared by every store: URLs, SQLite set-up, migration runs.

The one part of `workloads` that may use SQLAlchemy and Alembic (DESIGN.md
section 3 lets `onprem` and `cloud` import only `workloads`, and all three
stores need this). It holds plumbing only, never a domain fact: it imports
nothing of the project, and the pure domain modules of `workloads` never
import it (tests/support/architecture.py enforces both). Nothing here connects at
import time; each store calls it with its own parameters and keeps its own
error chokepoint.
"""

from __future__ import annotations

from workloads.sql.engines import (
    SqliteSetup,
    create_sqlite_engine,
    ensure_sqlite_directory,
    install_sqlite_setup,
    postgresql_connect_args,
    server_pool_options,
)
from workloads.sql.migrations import (
    alembic_config,
    current_revision,
    recorded_revision,
    upgrade_to_head,
)
from workloads.sql.urls import describe_url, sqlite_file_url, with_driver

__all__ = [
    "SqliteSetup",
    "alembic_config",
    "create_sqlite_engine",
    "current_revision",
    "describe_url",
    "ensure_sqlite_directory",
    "install_sqlite_setup",
    "postgresql_connect_args",
    "recorded_revision",
    "server_pool_options",
    "sqlite_file_url",
    "upgrade_to_head",
    "with_driver",
]
