"""The connector's configuration file for a running cloud service."""

from __future__ import annotations

from pathlib import Path

from tests.support.cloud_service import RunningService


def write_config(tmp_path: Path, service: RunningService, code: str | None) -> Path:
    """A connector configuration for the test service and an embedded site in tmp_path."""
    root = tmp_path / "root.pem"
    root.write_bytes(service.root_pem)
    code_line = f'attach_code = "{code}"' if code else ""
    config = tmp_path / "connector.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "connector"}"\n'
        f'[site]\ndb = "{tmp_path / "site.db"}"\n'
        f'[cloud]\nconnector_url = "{service.connector_url}"\napi_url = "{service.api_url}"\n'
        f'ca_file = "{root}"\n{code_line}\n'
        "[sync]\ninterval_seconds = 1\nheartbeat_seconds = 1\nbatch_size = 50\n"
        '[observability]\nmetrics_port = 0\nlog_level = "warning"\n'
    )
    return config
