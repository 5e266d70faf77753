"""The site store: schema migrations for embedded copies, schema checks, site identity.

Embedded copies (SQLite for the demo and tests, PostgreSQL) are created and
upgraded here through Alembic. A real site database (SQL Server) is never
migrated: cobridge only checks that the views it reads are there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.config import Config
from pydantic import BaseModel, ConfigDict

from onprem.errors import SiteError, SiteSchemaMismatch
from onprem.site_database import site_errors
from onprem.site_schema import REQUIRED_VIEWS, cobridge_site_identity, v_Site
from workloads.sql import alembic_config, recorded_revision, upgrade_to_head

# Where the Alembic revisions of this store live.
MIGRATIONS = "onprem:site_migrations"
VERSION_TABLE = "cobridge_site_schema_version"


# The configuration of this store's migrations on `connection` (the migration tests step
# revisions down and up with it).
def _alembic_config(connection: sa.Connection) -> Config:
    return alembic_config(connection, MIGRATIONS)


def migrate_site(engine: sa.Engine) -> None:
    """Create or upgrade an embedded site copy to the newest schema."""
    if engine.dialect.name == "mssql":
        raise SiteError(
            "refusing to change the schema of a SQL Server site database",
            hint="cobridge reads a real site read-only; seed only SQLite or PostgreSQL copies",
        )
    with site_errors(engine, "migrating the embedded site store"), engine.begin() as conn:
        upgrade_to_head(conn, MIGRATIONS)


def site_schema_revision(engine: sa.Engine) -> str | None:
    """The Alembic revision of an embedded copy, or None for an unmigrated database."""
    with site_errors(engine, "reading the site store revision"), engine.connect() as conn:
        return recorded_revision(conn, VERSION_TABLE)


def missing_site_columns(engine: sa.Engine) -> list[str]:
    """Every required view or `view.column` the site database lacks (empty when complete).

    Uses the database's catalog, which lists views as well as tables on SQL
    Server, PostgreSQL and SQLite.
    """
    missing: list[str] = []
    with site_errors(engine, "checking the site views"), engine.connect() as conn:
        inspector = sa.inspect(conn)
        present = {n.lower(): n for n in inspector.get_table_names() + inspector.get_view_names()}
        for view in REQUIRED_VIEWS:
            actual = present.get(view.name.lower())
            if actual is None:
                missing.append(view.name)
                continue
            columns = {c["name"].lower() for c in inspector.get_columns(actual)}
            missing.extend(
                f"{view.name}.{c.name}" for c in view.columns if c.name.lower() not in columns
            )
    return missing


def require_site_schema(engine: sa.Engine) -> None:
    """Raise `SiteSchemaMismatch` naming what is missing, if anything is."""
    missing = missing_site_columns(engine)
    if missing:
        raise SiteSchemaMismatch(missing)


class SiteIdentity(BaseModel):
    """Who a site database is: its site, its hierarchy and its instance.

    `instance_id` changes when the database is restored from a backup or
    replaced, which forces the connector to resynchronise in full
    (DESIGN.md section 6).
    """

    model_config = ConfigDict(frozen=True)

    site_code: str | None
    site_name: str | None
    version: str | None
    hierarchy_id: str | None
    instance_id: str


_MSSQL_INSTANCE = sa.text(
    "SELECT CONCAT(@@SERVERNAME, '/', DB_NAME(), '/', "
    "CONVERT(nvarchar(36), drs.database_guid), '/', CONVERT(nvarchar(36), drs.recovery_fork_guid)) "
    "FROM sys.database_recovery_status AS drs WHERE drs.database_id = DB_ID()"
)
_PG_INSTANCE = sa.text(
    "SELECT current_database() || '/' || oid::text FROM pg_database WHERE datname = current_database()"
)


def read_site_identity(engine: sa.Engine, conn: sa.Connection | None = None) -> SiteIdentity:
    """Read the identity of the site behind `engine` (on `conn` when given, to share a snapshot)."""
    if conn is None:
        with engine.connect() as own:
            return read_site_identity(engine, own)
    with site_errors(engine, "reading the site identity"):
        site = conn.execute(
            sa.select(v_Site.c.SiteCode, v_Site.c.SiteName, v_Site.c.Version)
            # The top of the hierarchy reports to nobody.
            .order_by(sa.func.coalesce(v_Site.c.ReportingSiteCode, "") != "", v_Site.c.SiteCode)
            .limit(1)
        ).first()
        embedded = None
        if sa.inspect(conn).has_table(cobridge_site_identity.name):
            embedded = conn.execute(
                sa.select(
                    cobridge_site_identity.c.instance_id, cobridge_site_identity.c.hierarchy_id
                )
            ).first()
        parts = []
        if engine.dialect.name == "mssql":
            parts.append(str(conn.execute(_MSSQL_INSTANCE).scalar()))
        elif engine.dialect.name == "postgresql":
            parts.append(str(conn.execute(_PG_INSTANCE).scalar()))
        if embedded is not None:
            parts.append(embedded.instance_id)
        if not parts:
            parts.append(f"unidentified:{engine.url.database}")
    return SiteIdentity(
        site_code=site.SiteCode if site else None,
        site_name=site.SiteName if site else None,
        version=site.Version if site else None,
        hierarchy_id=embedded.hierarchy_id if embedded is not None else None,
        instance_id="/".join(parts),
    )
