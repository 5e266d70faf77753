"""`cobridge cloud ...`: run the cloud tenant service and bootstrap tenants.

This module is a composition root: it builds the service's settings and
state and hands them to the server's assembly (`cloud.server.app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from cloud.contract.admin import Role
from cloud.server.app import running
from cloud.service import bootstrap
from cloud.service.settings import CloudSettings
from cloud.service.state import ServiceState, open_state
from workloads.errors import CobridgeError

T = TypeVar("T")


class SettingsError(CobridgeError):
    """Settings that cannot be used, naming the key and the fix."""

    code = "invalid_settings"


def cloud_settings(**given: Any) -> CloudSettings:
    """Settings from options (None = not given) over COBRIDGE_CLOUD_* variables."""
    try:
        return CloudSettings(**{k: v for k, v in given.items() if v is not None and v != ()})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise SettingsError(
            f"invalid cloud service settings: {problems}",
            hint="fix the option, or the COBRIDGE_CLOUD_<KEY> environment variable of that name",
        ) from None


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir and --db, shared by every cloud command."""
    command = click.option(
        "--db",
        default=None,
        metavar="URL",
        help="postgresql://... [default: SQLite in the data directory]",
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the service keeps its store and keys [default: data/cloud].",
    )(command)


def _with_state(settings: CloudSettings, work: Callable[[ServiceState], Awaitable[T]]) -> T:
    async def run() -> T:
        state = open_state(settings)
        try:
            return await work(state)
        finally:
            await state.engine.dispose()

    return asyncio.run(run())


@click.group()
def cloud() -> None:
    """Run the cloud tenant service and manage its tenants."""


@cloud.command()
@store_options
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="API and admin center port [default: 8443].")
@click.option(
    "--connector-port", type=int, default=None, help="Connector (mutual TLS) port [default: 8444]."
)
@click.option(
    "--server-name",
    "server_names",
    multiple=True,
    help="DNS name or IP for the server certificate (repeat).",
)
@click.option(
    "--tls-cert", "tls_cert_file", type=click.Path(dir_okay=False, path_type=Path), default=None
)
@click.option(
    "--tls-key", "tls_key_file", type=click.Path(dir_okay=False, path_type=Path), default=None
)
@click.option(
    "--connector-rate",
    "connector_rate_per_minute",
    type=int,
    default=None,
    help="Requests per minute per connector (0 = unlimited).",
)
def serve(**options: Any) -> None:
    """Serve the API and the connector endpoint over HTTPS until interrupted."""
    settings = cloud_settings(
        **{k: (list(v) if k == "server_names" and v else v) for k, v in options.items()}
    )

    async def run() -> None:
        state = open_state(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with running(state) as (api_port, connector_port):
            click.echo(f"cobridge cloud service: API https://{settings.host}:{api_port}", err=True)
            click.echo(
                f"  connectors: https://{settings.host}:{connector_port} (mutual TLS)", err=True
            )
            click.echo(
                f"  trust anchor: {(settings.data_dir / 'service-root.pem').resolve()}", err=True
            )
            await stop.wait()
        click.echo("stopped", err=True)

    asyncio.run(run())


@cloud.group()
def tenant() -> None:
    """Tenants."""


@tenant.command("create")
@store_options
@click.argument("name")
def tenant_create(name: str, **store: Any) -> None:
    """Create a tenant (with its own CA) and print its id."""
    tenant_id = _with_state(cloud_settings(**store), lambda s: bootstrap.create_tenant(s, name))
    click.echo(tenant_id)


@cloud.group()
def admin() -> None:
    """Admin principals."""


@admin.command("create")
@store_options
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.ADMIN.value,
    show_default=True,
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read an admin center password from standard input (its first line).",
)
@click.argument("name")
def admin_create(tenant_ref: str, role: str, password_stdin: bool, name: str, **store: Any) -> None:
    """Create an admin principal in a tenant and print its id."""
    password = _read_password() if password_stdin else None
    principal = _with_state(
        cloud_settings(**store),
        lambda s: bootstrap.create_admin(s, tenant_ref, name, Role(role), password=password),
    )
    click.echo(principal.principal_id)


@admin.command("set-password")
@store_options
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (its first line) instead of prompting.",
)
@click.argument("name")
def admin_set_password(tenant_ref: str, password_stdin: bool, name: str, **store: Any) -> None:
    """Set the admin center password of a principal (ends its sessions, lifts a lock)."""
    if password_stdin:
        password = _read_password()
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _with_state(
        cloud_settings(**store), lambda s: bootstrap.set_password(s, tenant_ref, name, password)
    )
    click.echo(f"password set for {name}")


def _read_password() -> str:
    # The first line only, without its line end: `echo secret | cobridge ...` works.
    line = click.get_text_stream("stdin").readline().rstrip("\r\n")
    if not line:
        raise click.UsageError("--password-stdin: standard input holds no password")
    return line


@cloud.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@store_options
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
@click.option(
    "--admin", "admin_name", required=True, help="Name of the principal the token acts as."
)
@click.option("--days", type=click.IntRange(1, 730), default=90, show_default=True)
def token_create(tenant_ref: str, admin_name: str, days: int, **store: Any) -> None:
    """Create an API token and print it (it is shown only this once)."""
    _, value = _with_state(
        cloud_settings(**store), lambda s: bootstrap.create_token(s, tenant_ref, admin_name, days)
    )
    click.echo(value)


@cloud.group("attach-code")
def attach_code() -> None:
    """One-time attach codes for connector installs."""


@attach_code.command("create")
@store_options
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
@click.option("--hours", type=click.IntRange(1, 336), default=24, show_default=True)
@click.option("--hierarchy-id", default=None, help="Only this hierarchy may use the code.")
def attach_code_create(tenant_ref: str, hours: int, hierarchy_id: str | None, **store: Any) -> None:
    """Create a one-time attach code and print it."""
    code = _with_state(
        cloud_settings(**store),
        lambda s: bootstrap.create_attach_code(s, tenant_ref, hours, hierarchy_id),
    )
    click.echo(code)
