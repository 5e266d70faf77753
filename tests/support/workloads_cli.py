"""The connector's workloads commands against a configured state store: the device, the config, the runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from installer.console import cli
from onprem.site_database import create_site_engine
from onprem.site_store import migrate_site

DEVICE = "GUID:0000000A-0000-4000-8000-000000000000"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A connector configuration over an empty, migrated embedded site."""
    engine = create_site_engine(f"sqlite:///{tmp_path / 'site.db'}")
    migrate_site(engine)
    engine.dispose()
    path = tmp_path / "connector.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "connector"}"\n'
        f'[site]\ndb = "{tmp_path / "site.db"}"\n'
        f'[cloud]\nconnector_url = "https://127.0.0.1:9"\nca_file = "{tmp_path / "root.pem"}"\n'
    )
    (tmp_path / "root.pem").write_text("not read by these commands")
    return path


def run(*args: str) -> tuple[int, str]:
    """Invoke the CLI; (exit code, output)."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output
