"""Problems with the install answers, one `key: what -> fix` line each, values never shown.

The connector's settings models raise their own problems as
`cobridge_config` errors carrying `what` and `fix`; the installer reuses them
and words pydantic's other errors the same way. An input value is never
quoted: it may be a password.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from workloads.errors import CobridgeError


class AnswersError(CobridgeError):
    """The answers are unusable; `problems` lists every reason, one line each."""

    code = "install_answers_invalid"

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{source}: {len(problems)} problem(s):\n{lines}",
            hint="`cobridge install --help` names the answers file's sections; "
            "README, 'Install the connector', has an example",
        )


def problem(what: str, fix: str) -> PydanticCustomError:
    """A validation error read as `key: what -> fix` (the settings' own error type)."""
    return PydanticCustomError("cobridge_config", "{what} -> {fix}", {"what": what, "fix": fix})


def describe_errors(exc: ValidationError, section: str) -> list[str]:
    """One line per error of `exc`, keys prefixed with `section`."""
    return [describe_error(error, section) for error in exc.errors(include_url=False)]


def error_field(error: Any) -> str | None:
    """The first field an error is about (for re-asking it), or None."""
    loc = error.get("loc") or ()
    return str(loc[0]) if loc else None


def describe_error(error: Any, section: str) -> str:
    """`section.key: what -> fix` for one pydantic error."""
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    key = ".".join([section, *loc] if section else loc) or section or "answers"
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "cobridge_config":
        return f"{key}: {ctx['what']} -> {ctx['fix']}"
    if kind == "missing":
        where = f"[{section or loc[0]}]" if len(loc) > (0 if section else 1) else "the file"
        return f"{key}: missing -> add {loc[-1]} under {where}"
    if kind == "extra_forbidden":
        return f"{key}: unknown key -> remove it, or correct its spelling"
    if kind == "literal_error":
        return f"{key}: not one of {ctx.get('expected')} -> use one of those"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{key}: not a table -> write it as a [{key}] section with its keys below it"
    return f"{key}: {error['msg'].rstrip('.')} -> correct the value"
