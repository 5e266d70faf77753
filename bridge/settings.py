"""Connector settings: a TOML file overlaid by `COBRIDGE_CONNECTOR_*` variables.

`ConnectorSettings.load(path)` reads the file with tomllib, lets the
environment override any key (`COBRIDGE_CONNECTOR_SYNC__BATCH_SIZE=2000`
overrides `[sync] batch_size`), validates everything and raises one
`ConfigError` listing every problem as `section.key: what is wrong -> how to
fix`. Unknown keys are problems too: a typo must never fall back to a
default unnoticed. Secrets (the site and state database URLs, which may hold
a password, and the attach code) are `SecretStr`: never in `repr`, dumps or
error messages. A secret may also be written as `secret:NAME`, a reference
into the encrypted store beside the file (`bridge.settings_secrets`), so that
no file holds it in plain text. Loading reads the file (and that store) and
nothing else; nothing connects.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bridge.settings_actions import EXAMPLE as ACTIONS_EXAMPLE
from bridge.settings_actions import ActionsSettings
from bridge.settings_directory import EXAMPLE as DIRECTORY_EXAMPLE
from bridge.settings_directory import DirectorySettings
from bridge.settings_secrets import resolve_references
from cloud.contract.attach import HIERARCHY_ID
from cloud.contract.inventory import MAX_BATCH_ITEMS
from onprem.errors import InvalidSiteUrl
from onprem.site_database import describe_url, parse_site_url
from onprem.site_statements import ReadScope
from workloads.errors import CobridgeError

ENV_PREFIX = "COBRIDGE_CONNECTOR_"
# Not a setting: where the CLI may look for the file. Allowed beside the settings.
CONFIG_ENV = "COBRIDGE_CONNECTOR_CONFIG"
SECRET_KEYS = frozenset(
    {"site.db", "state.db", "cloud.attach_code", "directory.password", "actions.password"}
)
# What a missing required key should look like; also used by `example_toml`.
EXAMPLES = {
    "site.db": "mssql://svc-cobridge:PASSWORD@sccm-sql.corp.example.com/CM_PS1",
    "site.hierarchy_id": "contoso-ps1",
    "cloud.connector_url": "https://cobridge.example.com:8444",
    "cloud.api_url": "https://cobridge.example.com:8443",
    "cloud.ca_file": "/etc/cobridge/service-root.pem",
}
_COLLECTION = re.compile(ReadScope.model_fields["collection_id"].metadata[0].pattern)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class ConfigError(CobridgeError):
    """The configuration is unusable; `problems` lists every reason, one line each."""

    code = "config_error"

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"the connector configuration ({source}) has {len(problems)} problem(s):\n{lines}",
            hint=f"a key is [section] key in the file, or {ENV_PREFIX}SECTION__KEY in the "
            "environment (which wins); ConnectorSettings.example_toml() shows every key",
        )


def _problem(what: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError("cobridge_config", "{what} -> {fix}", {"what": what, "fix": fix})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    """`[site]`: the site database, the hierarchy it belongs to, and what to upload."""

    db: SecretStr = Field(description="site database URL, or a file path for an embedded site")
    hierarchy_id: str | None = Field(
        default=None, description="required unless the site records one"
    )
    chunk_size: int = Field(default=5000, ge=1, le=100_000)
    upload_scope: Literal["all", "agent_only", "collection"] = "all"
    collection_id: str | None = Field(default=None, validate_default=True)

    @field_validator("db")
    @classmethod
    def _usable_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        try:
            parse_site_url(text)
        except (InvalidSiteUrl, ValueError):
            # Its message quotes the URL, password and all: never pass it on.
            # (A non-numeric port escapes parse_site_url as a ValueError.)
            scheme = _SCHEME.match(text)
            shown = f" (type {scheme.group(1)}://)" if scheme else ""
            raise _problem(
                f"not a usable site database URL{shown}",
                "use mssql://user:password@host/CM_<site code>, postgresql://... or a SQLite file path",
            ) from None
        return SecretStr(text)

    @field_validator("hierarchy_id")
    @classmethod
    def _hierarchy(cls, value: str | None) -> str | None:
        if value is not None and not re.match(HIERARCHY_ID, value):
            raise _problem(
                f"{value[:70]!r} is not a hierarchy id",
                "use 1-64 letters, digits or . _ : { } -, starting with a letter or digit",
            )
        return value

    @field_validator("collection_id")
    @classmethod
    def _scope(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field validator (not a model one) so that it runs, and reports,
        # even when another key of [site] is wrong too.
        scope = info.data.get("upload_scope")
        if scope == "collection" and value is None:
            raise _problem(
                "missing, and upload_scope is 'collection'",
                'add collection_id = "PS100014" (the collection to upload) under [site]',
            )
        if scope == "collection" and not _COLLECTION.match(value or ""):
            raise _problem(
                f"{value[:20]!r} is not a collection id",
                "use the CollectionID the console shows, such as PS100014",
            )
        if scope in ("all", "agent_only") and value is not None:
            raise _problem(
                f"set, but upload_scope is {scope!r}",
                'set upload_scope = "collection" to upload only that collection, or remove it',
            )
        return value

    def url(self) -> sa.URL:
        """The site database URL (its `repr` and `str` hide the password)."""
        return parse_site_url(self.db.get_secret_value())

    def read_scope(self) -> ReadScope:
        """The reader's scope for this upload scope (DOMAIN.md, tenant attach)."""
        return ReadScope(
            agent_only=self.upload_scope == "agent_only",
            collection_id=self.collection_id if self.upload_scope == "collection" else None,
        )


class CloudSettings(_Section):
    """`[cloud]`: where the tenant service is, and how the connector trusts and joins it."""

    # First, so that the URL validators can see it.
    allow_http: bool = Field(default=False, description="plain http:// URLs, for local tests only")
    connector_url: str = Field(description="the service's connector listener (mutual TLS)")
    api_url: str | None = Field(default=None, description="the admin API, for links and status")
    ca_file: Path = Field(description="the service root certificate (PEM)")
    attach_code: SecretStr | None = Field(default=None, description="only until enrolled")

    @field_validator("connector_url", "api_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.match(r"^https?://[^/?#@\s]+(/[^?#\s]*)?$", value):
            raise _problem(
                f"{value[:80]!r} is not an https:// URL with a host (and no query or credentials)",
                f"use e.g. {EXAMPLES['cloud.connector_url']}",
            )
        if value.startswith("http:") and info.data.get("allow_http") is not True:
            raise _problem(
                "plain http:// would send inventory unencrypted",
                "use https://, or set allow_http = true for a local test service",
            )
        return value.rstrip("/")

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: Path) -> Path:
        if str(value).strip() in ("", "."):
            raise _problem("empty", f'name the PEM file: ca_file = "{EXAMPLES["cloud.ca_file"]}"')
        return value

    @field_validator("attach_code")
    @classmethod
    def _code(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value().strip()) <= 64:
            raise _problem(
                "not an attach code (those are 8-64 characters)",
                "paste the one-time code from the admin center, or remove it once enrolled",
            )
        return value


class SyncSettings(_Section):
    """`[sync]`: cycle interval, upload batches and the delete guard (DESIGN.md section 6)."""

    interval_seconds: float = Field(default=60, gt=0, le=86_400)
    batch_size: int = Field(default=1000, ge=1, le=MAX_BATCH_ITEMS)
    in_flight: int = Field(default=4, ge=1, le=32)
    heartbeat_seconds: float = Field(default=30, gt=0, le=3600)
    # Deletes of a cycle are held when they exceed either limit.
    delete_guard_count: int = Field(default=500, ge=0)
    delete_guard_percent: float = Field(default=10, ge=0, le=100)


class StateSettings(_Section):
    """`[state]`: the connector's own database (cursors, hashes, quarantine)."""

    db: SecretStr | None = Field(default=None, description="default: SQLite in data_dir")

    @field_validator("db")
    @classmethod
    def _state_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            backend = sa.make_url(value.get_secret_value().strip()).get_backend_name()
        except (sa.exc.ArgumentError, ValueError):
            backend = None
        if backend not in ("sqlite", "postgresql"):
            raise _problem(
                "not a SQLite or PostgreSQL URL",
                "use postgresql://user:password@host/cobridge, or remove it for SQLite in data_dir",
            )
        return value


class ObservabilitySettings(_Section):
    """`[observability]`: where `/healthz` and `/metrics` listen, and how much to log."""

    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="0 = any free port")
    log_level: Literal["debug", "info", "warning", "error"] = "info"


# The parsed file of the `load` in progress: the lowest-priority source.
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar(
    "cobridge_connector_file", default=None
)


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole file

    def __call__(self) -> dict[str, Any]:
        return _FILE_VALUES.get() or {}


class ConnectorSettings(BaseSettings):
    """Everything `cobridge connector run` is configured with; see `example_toml()`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    site: SiteSettings
    cloud: CloudSettings
    sync: SyncSettings = Field(default_factory=SyncSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    directory: DirectorySettings = Field(default_factory=DirectorySettings)
    actions: ActionsSettings = Field(default_factory=ActionsSettings)
    data_dir: Path = Path("data/connector")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the file (first wins); no dotenv."""
        return init_settings, env_settings, _FileSource(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        # An absent [site] or [cloud] is validated as an empty one, so each
        # missing required key is reported by name, not "site: missing".
        if isinstance(data, dict):
            data = {"site": {}, "cloud": {}} | data
        return data

    @classmethod
    def load(cls, path: Path | None) -> ConnectorSettings:
        """Load from the TOML file at `path` (None: the environment only); `ConfigError` if unusable."""
        source = str(path) if path is not None else "environment"
        values = _read_toml(path) if path is not None else {}
        problems = _unknown_env_names()
        if path is not None:
            # `secret:NAME` values come from the encrypted store beside the file;
            # without them the rest cannot be validated (a key would read as missing).
            values, unresolved = resolve_references(values, path, SECRET_KEYS)
            if unresolved:
                raise ConfigError(source, problems + unresolved)
        token = _FILE_VALUES.set(values)
        try:
            settings = cls()
        except ValidationError as exc:
            problems += [_describe(e) for e in exc.errors(include_url=False)]
        except SettingsError as exc:
            # A whole section given as one variable (COBRIDGE_CONNECTOR_SYNC=...)
            # that is not JSON; pydantic-settings stops there.
            field = re.search(r'field "([^"]+)"', str(exc))
            name = field[1] if field else "environment"
            problems.append(
                f"{name} ({ENV_PREFIX}{name.upper()}): not valid JSON -> "
                f"set one key per variable, {ENV_PREFIX}{name.upper()}__<KEY>"
            )
        finally:
            _FILE_VALUES.reset(token)
        # Raised outside the handler: no chained exception carries a secret.
        if problems:
            raise ConfigError(source, problems)
        return settings

    def state_url(self) -> sa.URL:
        """The state database URL: `[state] db`, or SQLite in `data_dir`."""
        if self.state.db is not None:
            return sa.make_url(self.state.db.get_secret_value().strip())
        return sa.make_url(f"sqlite:///{self.data_dir / 'connector-state.db'}")

    def hierarchy_for(self, recorded: str | None) -> str:
        """The hierarchy id: `[site] hierarchy_id`, else the one the (embedded) site records."""
        configured = self.site.hierarchy_id
        if configured and recorded and configured != recorded:
            problem = f"{configured!r} but the site database records {recorded!r}"
            fix = "remove hierarchy_id, or point db at the intended site"
        elif configured or recorded:
            return configured or recorded  # type: ignore[return-value]
        else:
            problem = "missing, and the site database records no hierarchy id"
            fix = f'add hierarchy_id = "{EXAMPLES["site.hierarchy_id"]}" under [site]'
        raise ConfigError("site database", [f"site.hierarchy_id: {problem} -> {fix}"])

    def summary(self) -> dict[str, object]:
        """The settings as `status` and logs may show them: secrets described, never shown."""
        return {
            "site": describe_url(self.site.url()),
            "hierarchy_id": self.site.hierarchy_id,
            "upload_scope": self.site.upload_scope,
            "collection_id": self.site.collection_id,
            "connector_url": self.cloud.connector_url,
            "enrolling": self.cloud.attach_code is not None,
            "state": describe_url(self.state_url()),
            "data_dir": str(self.data_dir),
            "directory": self.directory.describe(),
            "actions": self.actions.describe(),
            **self.sync.model_dump(),
        }

    @staticmethod
    def example_toml() -> str:
        """A commented configuration an admin can start from (it loads as it is)."""
        return (
            _EXAMPLE.format(
                **{k.replace(".", "_"): v for k, v in EXAMPLES.items()},
                **{k: _toml(v) for k, v in SyncSettings().model_dump().items()},
                **{k: _toml(v) for k, v in ObservabilitySettings().model_dump().items()},
                chunk_size=SiteSettings.model_fields["chunk_size"].default,
                data_dir=ConnectorSettings.model_fields["data_dir"].default.as_posix(),
                max_batch=MAX_BATCH_ITEMS,
            )
            + DIRECTORY_EXAMPLE
            + ACTIONS_EXAMPLE
        )


def _toml(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f'"{value}"' if isinstance(value, str) else str(value)


def _read_toml(path: Path) -> dict[str, Any]:
    fix = "pass the right --config path, or start from ConnectorSettings.example_toml()"
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        problem = f"{path}: the file does not exist -> {fix}"
    except OSError as exc:
        problem = f"{path}: cannot be read ({exc.strerror}) -> check the path and its permissions"
    except UnicodeDecodeError:
        problem = f"{path}: not UTF-8 text -> save the file as UTF-8"
    except tomllib.TOMLDecodeError as exc:
        problem = f"{path}: {_toml_position(str(exc), path)} -> fix the TOML syntax there"
    raise ConfigError(str(path), [problem])


def _toml_position(message: str, path: Path) -> str:
    # tomllib says "... (at line 3, column 10)" or "... (at end of document)".
    # Only its message is shown, never the line: the line may hold a secret.
    found = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    what = re.sub(r"\s*\(at [^)]*\)$", "", message)
    if found:
        return f"line {found[1]}, column {found[2]}: {what}"
    last = len(path.read_bytes().splitlines()) or 1
    return f"line {last} (end of file): {what}"


def _unknown_env_names() -> list[str]:
    # pydantic-settings reports unknown keys inside a section (extra="forbid")
    # but ignores unknown top-level names: report those here.
    problems = []
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV:
            continue
        head, nested, rest = upper[len(ENV_PREFIX) :].lower().partition("__")
        if head in _SECTIONS or (head in ConnectorSettings.model_fields and not nested):
            continue
        close = difflib.get_close_matches(head, list(ConnectorSettings.model_fields), 1, 0.6)
        if close:
            tail = f"__{rest.upper()}" if nested and close[0] in _SECTIONS else ""
            fix = f"did you mean {ENV_PREFIX}{close[0].upper()}{tail}?"
        else:
            fix = f"remove it ({ENV_PREFIX}<SECTION>__<KEY> names a key of a section)"
        problems.append(f"{name}: not a connector setting -> {fix}")
    return problems


def _section_model(name: str) -> type[BaseModel] | None:
    field = ConnectorSettings.model_fields.get(name)
    annotation = field.annotation if field else None
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


_SECTIONS = {name for name in ConnectorSettings.model_fields if _section_model(name)}


def _describe(error: Any) -> str:
    """One `section.key: what -> fix` line for a pydantic error, secrets never shown."""
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "config"
    env = ENV_PREFIX + "__".join(loc).upper()
    origin = f" ({env})" if any(n.upper() == env for n in os.environ) else ""
    what, fix = _what_and_fix(error, loc, key in SECRET_KEYS)
    return f"{key}{origin}: {what} -> {fix}"


def _shown(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        return value  # a number from the environment reads like one
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _what_and_fix(error: Any, loc: list[str], secret: bool) -> tuple[str, str]:
    kind, ctx = error["type"], error.get("ctx") or {}
    shown = "the value" if secret else _shown(error.get("input"))
    if kind == "cobridge_config":
        return ctx["what"], ctx["fix"]
    if kind == "missing":
        section, name = (loc[0], loc[-1]) if len(loc) > 1 else ("", loc[-1])
        where = f"under [{section}]" if section else "at the top of the file"
        example = EXAMPLES.get(".".join(loc), "...")
        return "missing", f'add {name} = "{example}" {where}'
    if kind == "extra_forbidden":
        model = _section_model(loc[0]) if len(loc) > 1 else ConnectorSettings
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(loc[-1], known, 1, 0.6)
        prefix = f"{loc[0]}." if len(loc) > 1 else ""
        if close:
            return "unknown key", f"did you mean {prefix}{close[0]}?"
        return "unknown key", f"remove it (known: {', '.join(known)})"
    bounds = {
        "less_than_equal": ("is above {le}", "use at most {le}"),
        "less_than": ("is not below {lt}", "use less than {lt}"),
        "greater_than_equal": ("is below {ge}", "use at least {ge}"),
        "greater_than": ("is not above {gt}", "use more than {gt}"),
        "literal_error": ("is not one of {expected}", "use one of {expected}"),
        "int_parsing": ("is not a whole number", "use a whole number"),
        "int_from_float": ("is not a whole number", "use a whole number"),
        "int_type": ("is not a whole number", "use a whole number"),
        "float_parsing": ("is not a number", "use a number"),
        "float_type": ("is not a number", "use a number"),
        "bool_parsing": ("is not true or false", "use true or false"),
        "bool_type": ("is not true or false", "use true or false"),
        "string_type": ("is not text", 'quote it: {key} = "..."'),
        "path_type": ("is not a path", 'quote it: {key} = "/path/to/file"'),
    }
    if kind in bounds:
        what, fix = bounds[kind]
        ctx = {k: _toml(v) if isinstance(v, float) else v for k, v in ctx.items()}
        return f"{shown} {what.format(**ctx)}", fix.format(**ctx, key=loc[-1])
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "not a table", f"write it as a [{loc[0]}] section with its keys below it"
    return (
        error["msg"] if secret else f"{shown}: {error['msg']}",
        "correct the value (see example_toml())",
    )


_EXAMPLE = """\
# cobridge connector configuration (TOML). Every key may be overridden by an
# environment variable COBRIDGE_CONNECTOR_<SECTION>__<KEY>, for instance
# COBRIDGE_CONNECTOR_SYNC__BATCH_SIZE=2000. Keep this file readable by the
# connector's account only (mode 0600): it may hold the site database
# password and the attach code.

# Where the connector keeps its state database, certificate and key. Relative
# paths here and below are taken from the working directory: prefer absolute.
data_dir = "{data_dir}"

[site]
# The site database: SQL Server (mssql://, read-only, through its views), or
# the path of an embedded SQLite copy. A password goes in the URL.
db = "{site_db}"
# The hierarchy id the tenant knows this site by; required unless the site
# database records one (embedded sites do).
hierarchy_id = "{site_hierarchy_id}"
# Devices read per query: memory is bounded by this, not by the site's size.
chunk_size = {chunk_size}
# What to upload: "all", "agent_only" (devices with the agent), or
# "collection" (the members of collection_id).
upload_scope = "all"
# collection_id = "PS100014"

[cloud]
# The tenant service's connector listener (mutual TLS) and its admin API.
connector_url = "{cloud_connector_url}"
api_url = "{cloud_api_url}"
# The service root certificate (PEM) the connector trusts.
ca_file = "{cloud_ca_file}"
# The one-time attach code from the admin center; remove it once enrolled.
# attach_code = "paste-the-code-here"

[sync]
# Seconds between delta cycles.
interval_seconds = {interval_seconds}
# Devices per upload batch (1 to {max_batch}), and batches in flight at once.
batch_size = {batch_size}
in_flight = {in_flight}
# Seconds between heartbeats (status to the tenant, release orders back).
heartbeat_seconds = {heartbeat_seconds}
# The delete guard: a cycle that would delete more devices than this, or more
# than this percentage of the hierarchy, holds every delete until an admin
# releases them.
delete_guard_count = {delete_guard_count}
delete_guard_percent = {delete_guard_percent}

[state]
# The connector's own database; by default SQLite in data_dir.
# db = "postgresql://cobridge:PASSWORD@db.example.com/cobridge_connector"

[observability]
# /healthz and /metrics listen here; keep them local unless scraped remotely.
metrics_host = {metrics_host}
metrics_port = {metrics_port}
# debug, info, warning or error.
log_level = {log_level}
"""
