"""The `cobridge` command line: one group, subcommands per area, one error boundary.

Expected failures (`CobridgeError`) print their message and hint and exit 2;
anything else is reported as an internal error in one line, with the traceback
only under `--debug` or COBRIDGE_DEBUG=1. A user never sees a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

# Importing it adds plan, apply, status, pause, resume, abort, rollback to `workloads`.
from bridge.cli import rollout_commands  # noqa: F401
from bridge.cli.audit_commands import audit
from bridge.cli.cloud_commands import cloud
from bridge.cli.connector_commands import connector, status
from bridge.cli.demo_command import demo
from bridge.cli.onprem_commands import onprem
from bridge.cli.workloads_commands import workloads
from workloads.errors import CobridgeError

EXIT_ERROR = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE


class _Cobridge(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CobridgeError as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"internal error: {type(exc).__name__}: {exc}", fg="red", err=True)
            click.echo("hint: re-run with --debug for details, and report it", err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=_Cobridge, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="cobridge")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """cobridge attaches a configuration-manager site to a cloud tenant and arbitrates co-management."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or os.environ.get("COBRIDGE_DEBUG") == "1"


cli.add_command(onprem)
cli.add_command(cloud)
cli.add_command(connector)
cli.add_command(workloads)
cli.add_command(status)
cli.add_command(demo)
cli.add_command(audit)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="cobridge", standalone_mode=True))
