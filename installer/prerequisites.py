"""The prerequisite checks in order, as a table or as JSON.

`run_checks` never raises: a check that breaks unexpectedly is a FAIL naming
the exception type, so one broken check never hides the others.
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from installer.checks import Check, CheckInput, CheckResult
from installer.checks_local import (
    check_disk,
    check_enrollment,
    check_metrics_port,
    check_permissions,
    check_python,
)
from installer.checks_remote import check_cloud, check_directory, check_site
from installer.checks_winrm import check_winrm

# The order an admin fixes things in: the platform, what the connector reads
# and talks to, then this host's resources.
CHECKS: tuple[Check, ...] = (
    check_python,
    check_site,
    check_directory,
    check_winrm,
    check_cloud,
    check_disk,
    check_permissions,
    check_metrics_port,
    check_enrollment,
)
_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "red", "SKIP": "dim"}


def run_checks(target: CheckInput, *, debug: bool = False) -> list[CheckResult]:
    """Every check's results, in order (with `debug`, a broken check raises)."""
    results: list[CheckResult] = []
    for check in CHECKS:
        try:
            results += check(target)
        except Exception as exc:  # one broken check must not hide the others
            if debug:
                raise
            name = check.__name__.removeprefix("check_").replace("_", " ")
            detail = f"the check itself failed ({type(exc).__name__})"
            results.append(
                CheckResult(name=name, status="FAIL", detail=detail, fix="re-run with --debug")
            )
    return results


def failed(results: list[CheckResult]) -> list[CheckResult]:
    """The FAIL results."""
    return [r for r in results if r.status == "FAIL"]


def print_results(results: list[CheckResult], out: Console, *, title: str) -> None:
    """The results as a table, then a count per status."""
    table = Table("check", "status", "detail", "fix", title=title, title_justify="left")
    for r in results:
        style = _STYLE[r.status]
        table.add_row(
            r.name, f"[{style}]{r.status}[/{style}]", escape(r.detail), escape(r.fix or "")
        )
    out.print(table)
    counts = {s: sum(r.status == s for r in results) for s in _STYLE}
    out.print(", ".join(f"{n} {s}" for s, n in counts.items() if n))


def results_json(results: list[CheckResult], **extra: object) -> str:
    """The results (and `extra` keys) as one JSON object."""
    document = {"checks": [r.model_dump() for r in results], "failed": len(failed(results))}
    return json.dumps(document | extra)
