"""`InstallAnswers`: what an install needs to know, from an answers file or from prompts.

One schema serves both: the answers file (TOML, one table per section) is
validated against it, and the interactive install asks its fields in order,
with the prompt, default and condition each field declares. A secret field
of the file may say `env:NAME` to take its value from the environment, so
the answers file need not hold a password either. Values are then checked
with the connector's own settings models (`to_settings`), so a problem reads
the same as it would in `connector.toml`, naming the key and the fix and
never a secret's value.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from bridge.settings import CloudSettings, ObservabilitySettings, SiteSettings
from bridge.settings_actions import ActionsSettings
from bridge.settings_directory import DirectorySettings
from installer.problems import AnswersError, describe_error, describe_errors, error_field, problem


def _from_env(value: object) -> object:
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:].strip()
        if name not in os.environ:
            raise problem(f"env:{name}, but {name} is not set", f"export {name} before installing")
        return os.environ[name]
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Secret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none), BeforeValidator(_from_env)]
Text = Annotated[str | None, BeforeValidator(_blank_is_none)]
KeyType = Literal["ec-p256", "rsa-3072"]


def ask(text: str, *, when: str | None = None, secret: bool = False) -> dict[str, Any]:
    """A field's prompt: `when` names a boolean field of the section that must be true."""
    return {"prompt": text, "when": when, "secret": secret}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteAnswers(_Section):
    """`[site]`: the site database and the hierarchy."""

    db: SecretStr = Field(
        json_schema_extra=ask(
            "Site database (mssql://user@sql-host/CM_PS1, postgresql://..., or a SQLite file)"
        )
    )
    password: Secret = Field(
        default=None,
        json_schema_extra=ask("Site database password (empty: none needed)", secret=True),
    )
    hierarchy_id: Text = Field(
        default=None, json_schema_extra=ask("Hierarchy id (empty: the one the site records)")
    )


class CloudAnswers(_Section):
    """`[cloud]`: the tenant service, its trust anchor, and the enrollment."""

    connector_url: str = Field(json_schema_extra=ask("Cloud connector URL (https://host:8444)"))
    api_url: Text = Field(
        default=None, json_schema_extra=ask("Cloud API and admin center URL (https://host:8443)")
    )
    ca_file: Path = Field(json_schema_extra=ask("Service root certificate (PEM file)"))
    attach_code: Secret = Field(
        default=None,
        json_schema_extra=ask("Attach code (empty when already enrolled)", secret=True),
    )
    key_type: KeyType = Field(default="ec-p256", json_schema_extra=ask("Key type"))


class DirectoryAnswers(_Section):
    """`[directory]`: Active Directory computer objects (optional)."""

    enabled: bool = Field(default=False, json_schema_extra=ask("Read computers from AD?"))
    hosts: list[str] = Field(
        default_factory=list,
        json_schema_extra=ask("Domain controllers (comma-separated)", when="enabled"),
    )
    tls: Literal["ldaps", "starttls", "plain"] = Field(
        default="ldaps", json_schema_extra=ask("LDAP transport", when="enabled")
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        json_schema_extra=ask("LDAP port (empty: 636 for ldaps, 389 otherwise)", when="enabled"),
    )
    ca_file: Path | None = Field(
        default=None,
        json_schema_extra=ask("CA of the DCs' certificates (empty: system store)", when="enabled"),
    )
    bind_dn: Text = Field(default=None, json_schema_extra=ask("Bind account", when="enabled"))
    password: Secret = Field(
        default=None,
        json_schema_extra=ask("Bind password", when="enabled", secret=True),
    )
    base_dns: list[str] = Field(
        default_factory=list,
        json_schema_extra=ask("Base DNs (comma-separated)", when="enabled"),
    )


class ActionsAnswers(_Section):
    """`[actions]`: device actions over WinRM (HTTPS 5986 by default)."""

    enabled: bool = Field(default=False, json_schema_extra=ask("Run actions on devices?"))
    auth: Literal["ntlm", "basic", "kerberos"] = Field(
        default="ntlm", json_schema_extra=ask("WinRM authentication", when="enabled")
    )
    winrm_user: Text = Field(default=None, json_schema_extra=ask("WinRM account", when="enabled"))
    winrm_password: Secret = Field(
        default=None, json_schema_extra=ask("WinRM password", when="enabled", secret=True)
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        json_schema_extra=ask("WinRM port (empty: 5986)", when="enabled"),
    )
    ca_file: Path | None = Field(
        default=None,
        json_schema_extra=ask(
            "CA of the devices' WinRM certificates (empty: system store)", when="enabled"
        ),
    )
    test_host: Text = Field(
        default=None,
        json_schema_extra=ask(
            "A device to check WinRM against (empty: skip the check)", when="enabled"
        ),
    )


class ServiceAnswers(_Section):
    """`[service]`: the local listener and how long to wait for the first heartbeat."""

    metrics_host: str = Field(default="127.0.0.1", json_schema_extra=ask("Metrics address"))
    metrics_port: int = Field(default=9464, ge=0, le=65535, json_schema_extra=ask("Metrics port"))
    wait_seconds: float = Field(
        default=120, gt=0, le=3600, json_schema_extra=ask("Seconds to wait for the heartbeat")
    )


class InstallAnswers(_Section):
    """Everything `cobridge install` asks, as one document."""

    site: SiteAnswers
    cloud: CloudAnswers
    directory: DirectoryAnswers = Field(default_factory=DirectoryAnswers)
    actions: ActionsAnswers = Field(default_factory=ActionsAnswers)
    service: ServiceAnswers = Field(default_factory=ServiceAnswers)

    def site_url(self) -> str:
        """The site database URL with the password put in (a secret)."""
        return site_url(self.site)

    def to_settings(self) -> tuple[SiteSettings, CloudSettings, DirectorySettings]:
        """The connector's settings sections these answers make; `AnswersError` when unusable."""
        problems = [
            line for name in SECTIONS for _, line in section_problems(name, getattr(self, name))
        ]
        if problems:
            raise AnswersError("the install answers", problems)
        return (
            SiteSettings(db=self.site_url(), hierarchy_id=self.site.hierarchy_id),
            CloudSettings(**self.cloud.model_dump(exclude={"key_type"})),
            _settings_for(self.directory),  # type: ignore[return-value]
        )

    def actions_settings(self) -> ActionsSettings:
        """The `[actions]` section these answers make (the password as given, for the checks)."""
        a = self.actions
        if not a.enabled:
            return ActionsSettings()
        password = a.winrm_password.get_secret_value() if a.winrm_password else None
        values = {
            "enabled": True,
            "auth": a.auth,
            "username": a.winrm_user,
            "password": password,
            "port": a.port,
            "ca_file": a.ca_file.resolve() if a.ca_file else None,
            "test_host": a.test_host,
        }
        try:
            return ActionsSettings(**values)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise AnswersError("the install answers", describe_errors(exc, "actions")) from None

    def secrets(self) -> dict[str, str]:
        """The secrets to keep encrypted (never the attach code: it is spent at enrollment)."""
        found = {"site_db": self.site_url()}
        if self.directory.enabled and self.directory.password is not None:
            found["directory_password"] = self.directory.password.get_secret_value()
        if self.actions.enabled and self.actions.winrm_password is not None:
            found["winrm_password"] = self.actions.winrm_password.get_secret_value()
        return found


SECTIONS = ("site", "cloud", "directory", "actions", "service")


def _settings_for(section: Any) -> BaseModel | None:
    """The connector settings section an answers section makes (None: it makes none)."""
    if isinstance(section, SiteAnswers):
        return SiteSettings(db=site_url(section), hierarchy_id=section.hierarchy_id)
    if isinstance(section, CloudAnswers):
        return CloudSettings(**section.model_dump(exclude={"key_type"}))
    if isinstance(section, DirectoryAnswers):
        return DirectorySettings(**section.model_dump()) if section.enabled else DirectorySettings()
    if isinstance(section, ServiceAnswers):
        return ObservabilitySettings(
            metrics_host=section.metrics_host, metrics_port=section.metrics_port
        )
    return None


def section_problems(name: str, section: BaseModel) -> list[tuple[str | None, str]]:
    """(field, `name.key: what -> fix`) for each problem the connector's settings find."""
    try:
        _settings_for(section)
    except ValidationError as exc:
        return [(error_field(e), describe_error(e, name)) for e in exc.errors(include_url=False)]
    except AnswersError as exc:
        return [("password", line) for line in exc.problems]
    return []


def site_url(site: SiteAnswers) -> str:
    """The site URL with `site.password` in it; a problem when a file is given a password."""
    db = site.db.get_secret_value().strip()
    if site.password is None:
        return db
    if "://" not in db:
        raise AnswersError(
            "the install answers",
            ["site.password: given, but the site is a SQLite file -> leave it empty"],
        )
    try:
        url = sa.make_url(db)
    except (sa.exc.ArgumentError, ValueError):
        return db  # reported by the settings' own check, which never shows it
    url = url.set(password=site.password.get_secret_value())
    return url.render_as_string(hide_password=False)


def load_answers(path: Path) -> InstallAnswers:
    """The answers file at `path`; `AnswersError` naming every problem."""
    try:
        with path.open("rb") as file:
            values = tomllib.load(file)
    except FileNotFoundError:
        raise AnswersError(
            str(path), [f"{path}: does not exist -> pass the right --answers"]
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # Only the error's kind: the line itself may hold a secret.
        reason = (
            str(exc).split("\n")[0] if isinstance(exc, tomllib.TOMLDecodeError) else "unreadable"
        )
        raise AnswersError(str(path), [f"{path}: {reason} -> fix the file"]) from None
    try:
        return InstallAnswers.model_validate(values)
    except ValidationError as exc:
        raise AnswersError(str(path), describe_errors(exc, "")) from None


_SECRET_KEYS = (
    ("site", "password"),
    ("cloud", "attach_code"),
    ("directory", "password"),
    ("actions", "winrm_password"),
)


def literal_secrets(path: Path) -> list[str]:
    """The keys of the answers file at `path` that hold a secret itself, not `env:NAME`."""
    with path.open("rb") as file:
        values = tomllib.load(file)
    found = [
        f"{section}.{key}"
        for section, key in _SECRET_KEYS
        if str(values.get(section, {}).get(key) or "env:").strip()[:4] != "env:"
    ]
    db = values.get("site", {}).get("db")
    try:
        if isinstance(db, str) and "://" in db and sa.make_url(db).password:
            found.insert(0, "site.db (its password)")
    except (sa.exc.ArgumentError, ValueError):
        pass
    return found
