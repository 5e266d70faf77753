"""The site store's migrations produce exactly `site_metadata`, and 0002 can be undone."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from onprem.site_schema import REQUIRED_VIEWS, site_metadata
from onprem.site_store import (
    VERSION_TABLE,
    _alembic_config,
    migrate_site,
    missing_site_columns,
    site_schema_revision,
)

AUTHORITY_TABLES = {
    "cobridge_comanagement_settings",
    "cobridge_workload_settings",
    "cobridge_site_gate",
    "cobridge_published_flags",
    "cobridge_site_authority_log",
}


def _tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def test_migrated_store_equals_the_metadata(site_engine: sa.Engine) -> None:
    assert site_schema_revision(site_engine) == "0002_site_authority"
    with site_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, site_metadata) == []
    assert _tables(site_engine) >= AUTHORITY_TABLES
    assert all(
        name.startswith("cobridge_")
        for name in _tables(site_engine) - {view.name for view in REQUIRED_VIEWS}
    )


def test_authority_tables_downgrade_and_upgrade_again(site_engine: sa.Engine) -> None:
    with site_engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001_site_views")
    assert site_schema_revision(site_engine) == "0001_site_views"
    assert not AUTHORITY_TABLES & _tables(site_engine)
    assert missing_site_columns(site_engine) == []
    migrate_site(site_engine)
    assert site_schema_revision(site_engine) == "0002_site_authority"
    assert _tables(site_engine) >= AUTHORITY_TABLES
