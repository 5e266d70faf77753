"""`cobridge doctor`: the prerequisite checks again, on the installed configuration, and status.

The configuration is loaded exactly as the connector loads it (secret
references resolved), so a missing or unopenable secret is reported by key
with its fix. The status is `cobridge status`'s report, read from the state
store when the connector has made one.
"""

from __future__ import annotations

from bridge.runtime.enrollment import load_identity
from bridge.runtime.runner import utc_now
from bridge.runtime.status import StatusReport, status_report
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from installer.checks import CheckInput, CheckResult
from installer.layout import InstallError, Layout, read_manifest
from installer.prerequisites import run_checks


def installed_settings(layout: Layout) -> ConnectorSettings:
    """The installed configuration, as the connector loads it; `InstallError` when there is none."""
    if not layout.config.exists():
        raise InstallError(
            f"no connector is installed under {layout.prefix} (no {layout.config})",
            hint="pass the --prefix the install used, or run `cobridge install`",
        )
    return ConnectorSettings.load(layout.config)


def doctor_checks(
    layout: Layout, settings: ConnectorSettings, *, debug: bool = False
) -> list[CheckResult]:
    """Every prerequisite check on the installed configuration."""
    manifest = read_manifest(layout)
    target = CheckInput(
        site=settings.site,
        cloud=settings.cloud,
        directory=settings.directory,
        metrics_host=settings.observability.metrics_host,
        metrics_port=settings.observability.metrics_port,
        actions_enabled=bool(manifest.get("actions_enabled")) or settings.actions.enabled,
        layout=layout,
        installed=True,
        enrolled=load_identity(settings.data_dir) is not None,
        attach_code=settings.cloud.attach_code is not None,
        actions=settings.actions,
    )
    return run_checks(target, debug=debug)


def installed_status(settings: ConnectorSettings) -> StatusReport | None:
    """`cobridge status`'s report, or None before the connector made its state store."""
    state_db = settings.state.db.get_secret_value() if settings.state.db else None
    if state_db is None and not (settings.data_dir / "connector-state.db").exists():
        return None
    with ConnectorState.open(state_db, data_dir=settings.data_dir) as state:
        return status_report(
            state,
            settings.data_dir,
            now=utc_now(),
            interval_seconds=settings.sync.interval_seconds,
        )
