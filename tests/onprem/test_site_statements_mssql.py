"""The reader's statements are the ones that would run on a real site (SQL Server).

Every statement compiles for the mssql dialect, reads only the documented
views, and uses T-SQL constructs (TOP, bracket quoting), never LIMIT.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy.dialects import mssql

from onprem.site_schema import REQUIRED_VIEWS, site_metadata
from onprem.site_statements import all_statements
from onprem.site_store import _MSSQL_INSTANCE
from tests.support.paths import SHARED_DOCS

DOMAIN_MD = SHARED_DOCS / "DOMAIN.md"
VIEW_NAMES = {v.name for v in REQUIRED_VIEWS}


@pytest.mark.parametrize("name", sorted(all_statements()))
def test_statement_compiles_to_tsql_over_documented_views(name: str) -> None:
    statement = all_statements()[name]
    sql = str(statement.compile(dialect=mssql.dialect(), compile_kwargs={"literal_binds": True}))
    sources = set(re.findall(r"(?:FROM|JOIN) \[(\w+)\]", sql))
    assert sources, sql
    assert sources <= VIEW_NAMES, f"{name} reads {sources - VIEW_NAMES}"
    assert not re.search(r"\bLIMIT\b", sql), sql
    assert '"' not in sql, "T-SQL quotes identifiers with brackets"
    if name.startswith("chunk_bounds"):
        assert re.search(r"SELECT TOP 5000\b", sql), sql


def test_instance_identity_query_reads_only_the_catalog() -> None:
    sql = str(_MSSQL_INSTANCE.compile(dialect=mssql.dialect()))
    assert "sys.database_recovery_status" in sql
    assert "database_guid" in sql
    assert "recovery_fork_guid" in sql


def _domain_views() -> dict[str, list[str]]:
    text = DOMAIN_MD.read_text(encoding="utf-8")
    section = text.split("## Site database", 1)[1].split("\n## ", 1)[0]
    views: dict[str, list[str]] = {}
    for match in re.finditer(r"^\| `(v_\w+)` \| (.+) \|$", section, flags=re.MULTILINE):
        columns = re.sub(r"\([^)]*\)", "", match.group(2))
        views[match.group(1)] = [c.strip().split()[0] for c in columns.split(",") if c.strip()]
    return views


@pytest.mark.skipif(not DOMAIN_MD.exists(), reason="shared/DOMAIN.md is not beside the checkout")
def test_schema_has_exactly_the_views_and_columns_of_domain_md() -> None:
    documented = _domain_views()
    assert len(documented) == 8
    for view, columns in documented.items():
        table = site_metadata.tables[view]
        assert [c.name for c in table.columns] == columns, view
