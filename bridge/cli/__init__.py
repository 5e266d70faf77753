"""The connector's command groups: `connector`, `status`, `workloads`, `audit`, `onprem`.

The console (`installer.console`) assembles these with the cloud service's
and the demo's groups under one root and one error boundary; this package
names no server and no demo.
"""

from __future__ import annotations

import click

# Importing it adds plan, apply, status, pause, resume, abort, rollback to `workloads`.
from bridge.cli import rollout_commands  # noqa: F401
from bridge.cli.audit_commands import audit
from bridge.cli.connector_commands import connector, status
from bridge.cli.onprem_commands import onprem
from bridge.cli.workloads_commands import workloads

CONNECTOR_COMMANDS: tuple[click.Command, ...] = (onprem, connector, workloads, status, audit)
