"""What a prerequisite check looks at (`CheckInput`) and what it finds (`CheckResult`).

Each result is PASS, WARN or FAIL with a one-line fix, or SKIP when the
check does not apply (the directory is not enabled, for instance). The
checks themselves are in `checks_local` and `checks_remote`; `prerequisites`
runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from bridge.settings import CloudSettings, SiteSettings
from bridge.settings_actions import ActionsSettings
from bridge.settings_directory import DirectorySettings
from installer.layout import Layout

Status = Literal["PASS", "WARN", "FAIL", "SKIP"]


class CheckResult(BaseModel):
    """One check's outcome; `fix` is one line, present unless it passed."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class CheckInput:
    """What the checks look at: the settings to be (or already) installed, and where."""

    site: SiteSettings
    cloud: CloudSettings
    directory: DirectorySettings
    metrics_host: str
    metrics_port: int
    actions_enabled: bool
    layout: Layout
    installed: bool
    enrolled: bool
    attach_code: bool
    # The full `[actions]` section when there is one (the installed configuration's).
    actions: ActionsSettings | None = None


Check = Callable[[CheckInput], list[CheckResult]]


def result(name: str, status: Status, detail: str, fix: str | None = None) -> list[CheckResult]:
    """One result, as the one-element list a check returns."""
    return [CheckResult(name=name, status=status, detail=detail, fix=fix)]
