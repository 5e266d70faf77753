"""The interactive install: the answers schema's fields asked one by one, with checks.

Each section of `InstallAnswers` is asked in order; a field whose `when`
names a false answer of its section is skipped (no domain controllers are
asked when the directory is off). A section is validated once asked, both by
its own model and by the connector's settings model; each field a problem
names is shown the problem and asked again. Secrets are typed without echo
and never shown as a default.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from installer.answers import (
    SECTIONS,
    ActionsAnswers,
    CloudAnswers,
    DirectoryAnswers,
    InstallAnswers,
    ServiceAnswers,
    SiteAnswers,
    section_problems,
)
from installer.problems import describe_error, error_field

_MODELS: dict[str, tuple[type[BaseModel], str]] = {
    "site": (SiteAnswers, "The site database"),
    "cloud": (CloudAnswers, "The cloud tenant"),
    "directory": (DirectoryAnswers, "Active Directory (optional)"),
    "actions": (ActionsAnswers, "Device actions (optional)"),
    "service": (ServiceAnswers, "This host"),
}


def _base(info: FieldInfo) -> Any:
    annotation = info.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def _ask(info: FieldInfo, previous: Any) -> Any:
    """One answer, typed after the field's annotation."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    text = str(extra.get("prompt"))
    base, default = _base(info), previous if previous is not None else _default(info)
    optional = not info.is_required()
    if base is bool:
        return click.confirm(text, default=bool(default))
    if base is SecretStr:  # typed again from scratch, never offered as a default
        value = click.prompt(
            text, hide_input=True, default="" if optional else None, show_default=False
        )
        return value or None
    if typing.get_origin(base) is Literal:
        return click.prompt(text, type=click.Choice(typing.get_args(base)), default=default)
    if typing.get_origin(base) is list:
        shown = ", ".join(default or []) or None
        value = click.prompt(text, default=shown if shown else ("" if optional else None))
        return [part.strip() for part in value.split(",") if part.strip()]
    if base in (int, float) and default is None and optional:
        return click.prompt(text, default="", show_default=False) or None  # checked by the model
    if base in (int, float):
        return click.prompt(text, type=base, default=default)
    shown = "" if default is None else str(default)
    value = click.prompt(
        text, default=shown if (shown or optional) else None, show_default=bool(shown)
    )
    if base is Path and value:
        return Path(value).expanduser()
    return value or None


def _asked(model: type[BaseModel], values: dict[str, Any], field: str) -> bool:
    info = model.model_fields[field]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    when = extra.get("when")
    return not when or bool(values.get(when))


def _section(name: str) -> BaseModel:
    model, title = _MODELS[name]
    click.secho(f"\n{title}", bold=True)
    values: dict[str, Any] = {}
    pending = list(model.model_fields)
    while True:
        for field in pending:
            if _asked(model, values, field):
                values[field] = _ask(model.model_fields[field], values.get(field))
        given = {k: v for k, v in values.items() if v is not None and _asked(model, values, k)}
        try:
            section = model.model_validate(given)
        except ValidationError as exc:
            problems = [(error_field(e), describe_error(e, name)) for e in exc.errors()]
        else:
            problems = section_problems(name, section)
            if not problems:
                return section
        for _, line in problems:
            click.secho(f"  {line}", fg="red")
        pending = [f for f, _ in problems if f in model.model_fields] or list(model.model_fields)
        for field in pending:  # a refused answer is not offered again as the default
            values.pop(field, None)


def prompt_answers() -> InstallAnswers:
    """Every answer, asked on the terminal."""
    click.echo("cobridge install: answer each question (Enter keeps the [default]).")
    return InstallAnswers(**{name: _section(name) for name in SECTIONS})
