"""Revision 0001 builds the site views from onprem.site_schema, and stays frozen."""

from __future__ import annotations

from types import ModuleType

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from onprem import site_schema
from onprem.site_store import MIGRATIONS


def _revision(name: str) -> ModuleType:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return ScriptDirectory.from_config(config).get_revision(name).module


def test_revision_0001_tables_match_the_digest_frozen_with_it() -> None:
    first = _revision("0001_site_views")
    tables = [site_schema.site_metadata.tables[name] for name in first.TABLES]
    assert site_schema.table_digest(tables) == first.FROZEN_DIGEST
    assert first.frozen_tables() == tables


def test_revision_0001_covers_every_site_view() -> None:
    first = _revision("0001_site_views")
    assert {view.name for view in site_schema.REQUIRED_VIEWS} <= set(first.TABLES)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.append_column(sa.Column("Extra0", sa.Integer)), id="new-column"),
        pytest.param(lambda t: setattr(t.c.Name0, "nullable", False), id="nullability"),
        pytest.param(lambda t: setattr(t.c.Name0, "type", sa.Unicode(64)), id="type"),
        pytest.param(lambda t: sa.Index("ix_extra", t.c.Name0), id="new-index"),
    ],
)
def test_an_edit_of_a_frozen_table_stops_the_revision(
    monkeypatch: pytest.MonkeyPatch, edit: object
) -> None:
    first = _revision("0001_site_views")
    edited = sa.MetaData()
    for table in site_schema.site_metadata.sorted_tables:
        table.to_metadata(edited)
    edit(edited.tables["v_R_System"])  # type: ignore[operator]
    monkeypatch.setattr(site_schema, "site_metadata", edited)
    with pytest.raises(RuntimeError, match="0001_site_views"):
        first.frozen_tables()
