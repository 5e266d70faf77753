"""`cobridge secrets ...` and `cobridge renew`: rotate what the installed connector holds.

Secrets are typed without echo (or read from standard input) and sealed into
`secrets.enc`; no command ever prints one. `site_db_password` changes only
the password inside the stored site database URL. The attach code is never a
stored secret: it is spent at enrollment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from pydantic import ValidationError

from bridge.settings import SiteSettings
from bridge.settings_secrets import SecretStore
from installer.doctor import installed_settings
from installer.identity import renew as renew_certificate
from installer.layout import InstallError, Layout
from installer.problems import AnswersError, describe_errors
from installer.service import systemd_available

SETTABLE = {
    "site_db": "the site database URL (with its password)",
    "site_db_password": "only the password inside the site database URL",
    "directory_password": "the directory bind password",
    "winrm_password": "the WinRM password (device actions)",
}


def _layout(prefix: Path) -> Layout:
    layout = Layout(prefix.absolute())
    if not layout.config_dir.exists():
        raise InstallError(
            f"no connector is installed under {layout.prefix}",
            hint="pass the --prefix the install used",
        )
    return layout


def _prefix(command: click.Command) -> click.Command:
    return click.option(
        "--prefix", type=click.Path(file_okay=False, path_type=Path), default=Path("/")
    )(command)


def _restart_note(layout: Layout) -> None:
    if systemd_available(layout):
        click.echo("the running connector reads it at start: systemctl restart cobridge-connector")
    else:
        click.echo("the connector reads it at its next start")


def _value(name: str, from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = click.prompt(f"New value of {name}", hide_input=True, confirmation_prompt=True)
    if not value:
        raise InstallError(f"secret {name}: empty", hint="give a value")
    return value


def _sealed_value(store: SecretStore, name: str, value: str) -> tuple[str, str]:
    """(stored name, value to seal), checked the way the connector will use it."""
    if name == "site_db_password":
        url = store.get("site_db")
        if "://" not in url:
            raise InstallError(
                "secret site_db_password: the site database is a SQLite file, with no password",
                hint="set site_db instead",
            )
        value = sa.make_url(url).set(password=value).render_as_string(hide_password=False)
        name = "site_db"
    if name == "site_db":
        try:
            SiteSettings(db=value)
        except ValidationError as exc:
            raise AnswersError("secret site_db", describe_errors(exc, "site")) from None
    return name, value


def _set(prefix: Path, name: str, from_stdin: bool, *, must_exist: bool) -> None:
    if name == "attach_code":
        raise InstallError(
            "the attach code is never stored: it is spent at enrollment",
            hint="give it to `cobridge install` (a new one comes from the admin center)",
        )
    if name not in SETTABLE:
        raise InstallError(
            f"{name!r} is not a secret of the connector", hint=f"use one of {', '.join(SETTABLE)}"
        )
    layout = _layout(prefix)
    store = SecretStore(layout.config_dir)
    stored = "site_db" if name == "site_db_password" else name
    if must_exist and stored not in store.names():
        raise InstallError(
            f"secret {stored} is not set", hint=f"set it with `cobridge secrets set {name}`"
        )
    stored, value = _sealed_value(store, name, _value(name, from_stdin))
    changed = store.set_many({stored: value})
    click.echo(f"secret {stored} {'sealed in ' + str(store.path) if changed else 'unchanged'}")
    if changed:
        _restart_note(layout)


@click.group()
def secrets() -> None:
    """The installed connector's encrypted secrets (names only are ever shown)."""


@secrets.command("list")
@_prefix
def list_secrets(prefix: Path) -> None:
    """The names of the secrets held."""
    for name in SecretStore(_layout(prefix).config_dir).names():
        click.echo(name)


@secrets.command("set")
@click.argument("name")
@_prefix
@click.option("--value-stdin", is_flag=True, help="Read the value from standard input.")
def set_secret(name: str, prefix: Path, value_stdin: bool) -> None:
    """Set secret NAME: site_db, site_db_password, directory_password or winrm_password."""
    _set(prefix, name, value_stdin, must_exist=False)


@secrets.command("rotate")
@click.argument("name", required=False)
@_prefix
@click.option("--value-stdin", is_flag=True, help="Read the new value from standard input.")
def rotate(name: str | None, prefix: Path, value_stdin: bool) -> None:
    """Without NAME, a new master key (every secret re-sealed); with NAME, a new value for it."""
    if name is not None:
        _set(prefix, name, value_stdin, must_exist=True)
        return
    layout = _layout(prefix)
    store = SecretStore(layout.config_dir)
    key_id = store.rotate_master_key()
    click.echo(f"new master key {key_id}; {len(store.names())} secret(s) re-sealed under it")
    click.echo(f"back up {layout.master_key}: without it the secrets cannot be opened")
    _restart_note(layout)


@click.command()
@_prefix
@click.option("--force", is_flag=True, help="Renew now, even when not due.")
def renew(prefix: Path, force: bool) -> None:
    """Renew the connector's certificate (when a third of its validity is left, or now)."""
    layout = _layout(prefix)
    settings = installed_settings(layout)
    renewed = asyncio.run(renew_certificate(settings, force=force))
    if renewed is None:
        click.echo("not due yet: the certificate has more than a third of its validity left")
        click.echo("pass --force to renew now")
        return
    click.echo(f"renewed: new key and certificate until {renewed.not_after:%Y-%m-%d %H:%M} UTC")
    _restart_note(layout)
