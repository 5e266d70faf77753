"""Reading a desired-state document from TOML text or from JSON-decoded data.

Both paths end in the same pydantic validation; every problem becomes one
`DesiredStateError` whose message names each failing key path (the way the
document spells it: `rollout.waves[1].percent (wave 2)`) and whose hint says
how to fix the first one. `EXAMPLE_DESIRED_STATE` is a complete, valid
document the CLI and the demo can print.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from workloads.catalog import ALL_WORKLOADS, Workload
from workloads.errors import UnknownWorkload
from workloads.rollout.document import (
    DesiredState,
    HealthGates,
    Rollout,
    Wave,
    WorkloadTarget,
)
from workloads.rollout.errors import DesiredStateError

EXAMPLE_DESIRED_STATE = """\
# cobridge desired state: where each workload's slider should end up, and how to get there.
version = 1

[workloads.compliance]
slider = "cloud"

[workloads.device-configuration]
slider = "pilot"
pilot_collection = "PS100014"

[rollout]
name = "spring-cloud-move"      # also the salt that picks percentage waves
# salt = "another-draw"         # set to pick other devices for the same percentages

[[rollout.waves]]               # wave 1: the pilot ring
collections = ["PS100020"]
soak = "2h"

[[rollout.waves]]               # wave 2: 10% of the devices (stable hash)
percent = 10
soak = "4h"

[[rollout.waves]]               # wave 3: up to 50% (cumulative)
percent = 50
soak = "1d"
# then the final stage: every remaining device

[rollout.gates]
max_failed_percent = 5          # of the rollout's handoffs
max_stalled_percent = 2
max_conflicts = 0
min_compliance_percent = 90     # checked only when devices report compliance
on_trip = "rollback"            # or "pause"
"""

_SLIDERS = '"configmgr", "pilot" or "cloud"'
_HINTS: dict[str, str] = {
    "version": "write version = 1, or leave it out",
    "workloads": (
        'give each workload a table, e.g. [workloads.compliance] with slider = "cloud"; '
        f"workloads: {', '.join(w.alias for w in ALL_WORKLOADS)} (or their Graph names)"
    ),
    "slider": f"use {_SLIDERS}",
    "pilot_collection": (
        'a collection id such as "PS100014" (3 site-code characters, 5 hex digits); '
        'required when slider = "pilot"'
    ),
    "rollout": "see the example document for the [rollout] table",
    "name": 'a short name for the rollout, such as name = "compliance-to-cloud"',
    "salt": "any non-empty text; change it to pick other devices for the same percentages",
    "waves": (
        'give each wave as [[rollout.waves]] with either collections = ["PS100014"] or '
        'percent = 25, and a soak such as soak = "30m"'
    ),
    "collections": 'a list of collection ids, such as collections = ["PS100014", "PS100015"]',
    "percent": (
        "a cumulative percentage of the devices, above the previous percentage wave and at "
        "most 100 (two decimals at most), such as percent = 25"
    ),
    "soak": 'seconds, or a duration such as "30m", "2h", "1h30m", "1d"; 0 for none',
    "gates": "see the example document for the [rollout.gates] table",
    "max_failed_percent": "a percentage from 0 to 100 of the rollout's handoffs, such as 5",
    "max_stalled_percent": "a percentage from 0 to 100 of the rollout's handoffs, such as 2",
    "max_conflicts": "a whole number of conflicts, 0 or more",
    "min_compliance_percent": "a percentage from 0 to 100, or leave it out for no floor",
    "on_trip": 'use "pause" or "rollback"',
}

_TYPE_HINTS = {"percent_not_increasing": _HINTS["percent"]}


def parse_desired_state_toml(text: str, *, source: str = "desired state") -> DesiredState:
    """The document in TOML `text`; `source` (a file name) starts every error message."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DesiredStateError(
            f"{source} is not valid TOML: {exc}",
            hint="fix the syntax at the line and column named (text values need quotes)",
        ) from exc
    return parse_desired_state(data, source=source)


def parse_desired_state(data: object, *, source: str = "desired state") -> DesiredState:
    """The document in JSON-decoded `data` (the tenant API's body, or parsed TOML)."""
    if not isinstance(data, Mapping):
        raise DesiredStateError(
            f"{source} must be an object (a table of keys), not {type(data).__name__}",
            hint="start from the example document",
        )
    try:
        return DesiredState.model_validate(dict(data))
    except ValidationError as exc:
        raise _error(exc, source, _workload_spellings(data)) from exc


def _workload_spellings(data: Mapping[str, object]) -> dict[str, str]:
    # Error paths name a workload the way the document spelt it.
    workloads = data.get("workloads")
    if not isinstance(workloads, Mapping):
        return {}
    spelt: dict[str, str] = {}
    for key in workloads:
        try:
            spelt[Workload.named(key).value] = str(key)
        except UnknownWorkload:
            continue
    return spelt


def _error(exc: ValidationError, source: str, spelt: Mapping[str, str]) -> DesiredStateError:
    errors = _without_echoes(exc.errors())
    problems = tuple((_path(_spelt(e["loc"], spelt)), _message(e)) for e in errors)
    first = errors[0]
    if len(problems) == 1:
        message = f"{source}: {problems[0][0]}: {problems[0][1]}"
    else:
        lines = "\n".join(f"  {path}: {text}" for path, text in problems)
        message = f"{source}: {len(problems)} problems:\n{lines}"
    return DesiredStateError(message, hint=_hint(first), problems=problems)


def _without_echoes(errors: Sequence[Any]) -> list[Any]:
    # A list whose items failed is also reported too short; the items' errors say it all.
    kept = [
        e
        for e in errors
        if not (
            e["type"] == "too_short"
            and any(o is not e and tuple(o["loc"][: len(e["loc"])]) == e["loc"] for o in errors)
        )
    ]
    return kept or list(errors)


def _spelt(loc: Sequence[int | str], spelt: Mapping[str, str]) -> list[int | str]:
    parts = list(loc)
    if len(parts) > 1 and parts[0] == "workloads" and isinstance(parts[1], str):
        parts[1] = spelt.get(parts[1], parts[1])
    return parts


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    wave: int | None = None
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
            if index > 0 and loc[index - 1] == "waves":
                wave = part + 1
        else:
            text += f".{part}" if text else str(part)
    text = text or "(document)"
    return f"{text} (wave {wave})" if wave is not None else text


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _hint(error: Mapping[str, Any]) -> str:
    if error["type"] in _TYPE_HINTS:
        return _TYPE_HINTS[error["type"]]
    loc = [part for part in error["loc"] if isinstance(part, str)]
    if error["type"] == "extra_forbidden":
        known = ", ".join(_keys_at(loc[:-1]))
        return f"remove {loc[-1]!r} or correct its spelling; the keys here are: {known}"
    for part in reversed(loc):
        if part in _HINTS:
            return _HINTS[part]
    return "start from the example document and change one thing at a time"


def _keys_at(loc: Sequence[str]) -> list[str]:
    model: type[BaseModel] = DesiredState
    if loc[:1] == ["workloads"] and len(loc) == 2:
        model = WorkloadTarget
    elif loc == ["rollout"]:
        model = Rollout
    elif loc == ["rollout", "waves"]:
        model = Wave
    elif loc == ["rollout", "gates"]:
        model = HealthGates
    return list(model.model_fields)
