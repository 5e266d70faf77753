"""The `cobridge` console: the one composition root of the command line.

It assembles the connector's groups (`bridge.cli`), the cloud service's
(`cloud.server.cli`), the demo's (`installer.demo`) and the installer's
commands under one root group with one error boundary: an expected failure
(`CobridgeError`) prints its message and hint and exits 2; anything else is
reported as an internal error in one line, with the traceback only under
`--debug` or COBRIDGE_DEBUG=1. A user never sees a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from bridge.cli import CONNECTOR_COMMANDS
from bridge.cli.onprem_commands import onprem
from cloud.server.cli import cloud
from installer.cli import INSTALLER_COMMANDS
from installer.demo.command import demo
from installer.demo.site_commands import SITE_GENERATOR_COMMANDS
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


for _command in (*CONNECTOR_COMMANDS, cloud, demo, *INSTALLER_COMMANDS):
    cli.add_command(_command)
# The demo's site generator adds `seed` and `touch` to the connector's `onprem` group.
for _command in SITE_GENERATOR_COMMANDS:
    onprem.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="cobridge", standalone_mode=True))
