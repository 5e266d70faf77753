"""The site's co-management settings in the embedded site store: rows to settings and back.

One row of `cobridge_comanagement_settings` (id 1: enablement and
auto-enrollment) and one row per workload in `cobridge_workload_settings`.
A missing row is the default (co-management off, no auto-enrollment, the
slider on the site), so a fresh store needs no rows. A write stores only the
rows whose values change, each stamped with who changed it and when, so that
every row says who last moved that setting.

Rows naming a workload this version does not know (written by a newer one)
are ignored on read and left alone on write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from onprem.authority.settings_text import parse_settings
from onprem.authority.sql import serialize_writers, to_db, upsert
from onprem.errors import InvalidCoManagementSettings
from onprem.site_schema import cobridge_comanagement_settings as main_table
from onprem.site_schema import cobridge_workload_settings as workload_table
from workloads.catalog import ALL_WORKLOADS
from workloads.settings import CoManagementSettings

SETTINGS_ID = 1


def _document(conn: sa.Connection) -> dict[str, Any]:
    document: dict[str, Any] = {}
    main = conn.execute(sa.select(main_table).where(main_table.c.id == SETTINGS_ID)).first()
    if main is not None:
        document["enabled"] = bool(main.enabled)
        document["auto_enrollment"] = {
            "scope": main.auto_enrollment_scope,
            "collection": main.auto_enrollment_collection,
        }
    known = {workload.value for workload in ALL_WORKLOADS}
    workloads = {
        row.workload: {"slider": row.slider, "pilot_collection": row.pilot_collection}
        for row in conn.execute(sa.select(workload_table))
        if row.workload in known
    }
    if workloads:
        document["workloads"] = workloads
    return document


def read_settings(conn: sa.Connection) -> CoManagementSettings:
    """The stored settings; InvalidCoManagementSettings if the stored rows are not valid."""
    document = _document(conn)
    try:
        return parse_settings(document)
    except InvalidCoManagementSettings as exc:
        raise InvalidCoManagementSettings(
            "the site store holds co-management settings that are not valid: "
            + exc.message.removeprefix("co-management settings refused: "),
            hint="write the settings again through cobridge; the rows were changed by hand",
        ) from exc


def write_settings(
    conn: sa.Connection, settings: CoManagementSettings, *, changed_by: str, now: datetime
) -> None:
    """Store what differs between `settings` and the stored settings (in the caller's transaction)."""
    # Validated again: a model built without validation must not reach the store.
    settings = parse_settings(settings.model_dump(mode="json"))
    actor = changed_by.strip()
    if not actor:
        raise InvalidCoManagementSettings(
            "a change of co-management settings needs who made it (changed_by)",
            hint="pass the admin's user name or the automation's name",
        )
    stamp = {"changed_by": actor[:256], "changed_at": to_db(now)}
    serialize_writers(conn, main_table)
    current = read_settings(conn)
    if (settings.enabled, settings.auto_enrollment) != (current.enabled, current.auto_enrollment):
        row = {
            "id": SETTINGS_ID,
            "enabled": settings.enabled,
            "auto_enrollment_scope": settings.auto_enrollment.scope.value,
            "auto_enrollment_collection": settings.auto_enrollment.collection,
        }
        upsert(conn, main_table, [row | stamp], key=["id"])
    rows = [
        {
            "workload": workload.value,
            "slider": setting.slider.value,
            "pilot_collection": setting.pilot_collection,
        }
        | stamp
        for workload, setting in settings.workloads.items()
        if setting != current.setting(workload)
    ]
    if rows:
        upsert(conn, workload_table, rows, key=["workload"])
