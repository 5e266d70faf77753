"""The reader's SQL statements, built once here so tests can compile each for SQL Server.

Only the documented views are touched, with portable constructs: outer joins
on ResourceID, keyset ranges, ORDER BY with OFFSET/LIMIT (TOP / OFFSET FETCH
on SQL Server). Nothing here executes anything.
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from onprem.site_schema import (
    v_CH_ClientSummary,
    v_ClientCoManagementState,
    v_Collection,
    v_FullCollectionMembership,
    v_GS_COMPUTER_SYSTEM,
    v_GS_OPERATING_SYSTEM,
    v_GS_PC_BIOS,
    v_R_System,
)
from onprem.site_values import NEVER_DATES

HEALTH_COLUMNS = (
    "ClientActiveStatus",
    "LastActiveTime",
    "LastPolicyRequest",
    "LastDDR",
    "LastHW",
    "LastMPServerName",
    "LastEvaluationHealthy",
)
COMANAGEMENT_COLUMNS = (
    "MachineId",
    "MDMEnrolled",
    "ComgmtPolicyPresent",
    "MDMProvisioned",
    "HybridAADJoined",
    "AADJoined",
    "MDMWorkloads",
    "EnrollmentStatusCode",
    "EnrollmentErrorDetail",
)


class SiteDateTime(sa.types.TypeDecorator):
    """DATETIME that hands SQLite's stored text to the record validator untouched.

    SQLAlchemy's own SQLite processor raises on text it cannot parse, which
    would end the whole read at one bad row; the validator rejects that row
    instead. Other dialects return native datetimes.
    """

    impl = sa.DateTime
    cache_ok = True

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> object:
        """No conversion on SQLite; the dialect's own elsewhere."""
        if dialect.name == "sqlite":
            return None
        return super().result_processor(dialect, coltype)


def _tolerant(column: sa.ColumnElement) -> sa.ColumnElement:
    if not isinstance(column.type, sa.DateTime):
        return column
    # The site's "never" moments (FILETIME zero, SQL Server's zero date) are
    # no dates at all: NULL them here, so validation sees only real moments.
    value: sa.ColumnElement = sa.type_coerce(column, SiteDateTime())
    for never in NEVER_DATES:
        value = sa.func.nullif(value, sa.literal(never, SiteDateTime()), type_=SiteDateTime())
    return value.label(column.name)


class ReadScope(BaseModel):
    """Which devices a read covers (the anchor's upload scope, DOMAIN.md)."""

    model_config = ConfigDict(frozen=True)

    # CollectionIDs are eight letters or digits: a site code and a number
    # (PS100014), or a built-in id (SMS00001, SMSDM003, SMS000US).
    collection_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{8}$")
    include_obsolete: bool = True
    agent_only: bool = False


def _scope_filter(scope: ReadScope) -> list[sa.ColumnElement[bool]]:
    s = v_R_System.c
    where: list[sa.ColumnElement[bool]] = []
    if scope.collection_id is not None:
        members = sa.select(v_FullCollectionMembership.c.ResourceID).where(
            v_FullCollectionMembership.c.CollectionID == scope.collection_id
        )
        where.append(s.ResourceID.in_(members))
    if not scope.include_obsolete:
        where.append(sa.func.coalesce(s.Obsolete0, 0) == 0)
        where.append(sa.func.coalesce(s.Decommissioned0, 0) == 0)
    if scope.agent_only:
        where.append(s.Client0 == 1)
    return where


def _range(
    column: sa.ColumnElement[int], after: int, upper: int | None
) -> list[sa.ColumnElement[bool]]:
    bounds = [column > after]
    if upper is not None:
        bounds.append(column <= upper)
    return bounds


def chunk_bounds(scope: ReadScope, after: int, size: int) -> sa.Select:
    """The last ResourceID and the device count of the next chunk of at most `size` devices.

    `SELECT MAX(..), COUNT(*) FROM (SELECT TOP n ..)`: a short index range scan
    on every SQL Server version, and LIMIT elsewhere.
    """
    s = v_R_System.c
    chunk = (
        sa.select(s.ResourceID)
        .where(s.ResourceID > after, *_scope_filter(scope))
        .order_by(s.ResourceID)
        .limit(size)
        .subquery("chunk")
    )
    return sa.select(sa.func.max(chunk.c.ResourceID), sa.func.count())


def device_rows(scope: ReadScope, after: int, upper: int) -> sa.Select:
    """Every device in (after, upper] with its inventory, one row per device and view row."""
    s, os_, cs, bios, ch, cm = (
        v_R_System,
        v_GS_OPERATING_SYSTEM,
        v_GS_COMPUTER_SYSTEM,
        v_GS_PC_BIOS,
        v_CH_ClientSummary,
        v_ClientCoManagementState,
    )
    columns = [
        *s.c,
        os_.c.Caption0,
        os_.c.Version0,
        os_.c.InstallDate0,
        os_.c.LastBootUpTime0,
        cs.c.Manufacturer0,
        cs.c.Model0,
        cs.c.Domain0,
        cs.c.UserName0,
        bios.c.SerialNumber0,
        ch.c.ResourceID.label("_has_health"),
        *(ch.c[name] for name in HEALTH_COLUMNS),
        cm.c.ResourceID.label("_has_comanagement"),
        *(cm.c[name] for name in COMANAGEMENT_COLUMNS),
    ]
    joined = (
        s.outerjoin(os_, os_.c.ResourceID == s.c.ResourceID)
        .outerjoin(cs, cs.c.ResourceID == s.c.ResourceID)
        .outerjoin(bios, bios.c.ResourceID == s.c.ResourceID)
        .outerjoin(ch, ch.c.ResourceID == s.c.ResourceID)
        .outerjoin(cm, cm.c.ResourceID == s.c.ResourceID)
    )
    return (
        sa.select(*(_tolerant(c) for c in columns))
        .select_from(joined)
        .where(*_range(s.c.ResourceID, after, upper), *_scope_filter(scope))
        .order_by(s.c.ResourceID)
    )


def membership_rows(after: int, upper: int) -> sa.Select:
    """Every (ResourceID, CollectionID) membership in (after, upper], in order."""
    m = v_FullCollectionMembership.c
    return (
        sa.select(m.ResourceID, m.CollectionID)
        .where(*_range(m.ResourceID, after, upper))
        .order_by(m.ResourceID, m.CollectionID)
    )


def collection_rows() -> sa.Select:
    """Every collection, ordered by CollectionID."""
    c = v_Collection.c
    return sa.select(
        c.CollectionID, c.Name, c.CollectionType, c.LimitToCollectionID, c.LastChangeTime
    ).order_by(c.CollectionID)


def all_statements() -> dict[str, sa.Select]:
    """One instance of every statement the reader runs, for dialect compilation tests."""
    scoped = ReadScope(collection_id="PS100014", include_obsolete=False, agent_only=True)
    return {
        "chunk_bounds": chunk_bounds(ReadScope(), 0, 5000),
        "chunk_bounds_scoped": chunk_bounds(scoped, 0, 5000),
        "device_rows": device_rows(ReadScope(), 0, 5000),
        "device_rows_scoped": device_rows(scoped, 0, 5000),
        "membership_rows": membership_rows(0, 5000),
        "collection_rows": collection_rows(),
    }
