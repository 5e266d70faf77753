"""Shared CLI output: consoles, progress bars, and the site summary table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from onprem.site_summary import SiteSummary


def console() -> Console:
    """A console on standard output; 120 columns when it is not a terminal (logs, pipes)."""
    width = None if sys.stdout.isatty() else 120
    return Console(highlight=False, width=width)


@contextmanager
def progress_bar(
    total: int, label: str, *, enabled: bool | None = None
) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error; yields `advance_to(done)`.

    Shown only on a terminal and for work large enough to wait for.
    """
    show = sys.stderr.isatty() and total >= 10_000 if enabled is None else enabled
    if not show:
        yield lambda _done: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def print_site_summary(summary: SiteSummary, out: Console) -> None:
    """Render a site summary as the tables an admin reads."""
    head = Table(
        title=f"Site {summary.site_code or '?'}: {summary.site_name or 'unnamed'}",
        show_header=False,
    )
    head.add_column("what", style="bold")
    head.add_column("value")
    head.add_row("Site version", summary.site_version or "unknown")
    head.add_row(
        "Hierarchy ID", summary.hierarchy_id or "not recorded (set it in the connector config)"
    )
    head.add_row("Instance", summary.instance_id)
    head.add_row("Rows in v_R_System", f"{summary.rows:,}")
    head.add_row("Valid records", f"{summary.records:,}")
    head.add_row("Rejected records", f"{summary.rejected:,}")
    head.add_row("Live (not obsolete or decommissioned)", f"{summary.live:,}")
    head.add_row("  with the agent", f"{summary.with_agent:,}")
    head.add_row("  without the agent", f"{summary.without_agent:,}")
    head.add_row("  co-managed", f"{summary.co_managed:,}")
    head.add_row("  without AADDeviceID", f"{summary.empty_aad_device_id:,}")
    head.add_row("  sharing a name with another", f"{summary.duplicate_live_names:,}")
    head.add_row("  sharing a serial with another", f"{summary.shared_serials:,}")
    head.add_row("Obsolete or decommissioned", f"{summary.obsolete_or_decommissioned:,}")
    head.add_row("Placeholder serial numbers", f"{summary.placeholder_serials:,}")
    head.add_row("Collections / memberships", f"{summary.collections:,} / {summary.memberships:,}")
    out.print(head)
    oses = Table(title="Operating systems (live devices)")
    oses.add_column("family")
    oses.add_column("devices", justify="right")
    for family, count in summary.operating_systems.items():
        oses.add_row(family, f"{count:,}")
    out.print(oses)
    if summary.rejected:
        rejects = Table(
            title=f"Rejected records ({summary.rejected:,}; first {len(summary.reject_samples)})"
        )
        for column in ("ResourceID", "Name0", "reason", "column", "detail"):
            rejects.add_column(column)
        for r in summary.reject_samples:
            rejects.add_row(str(r.resource_id), r.name or "", r.reason, r.column, r.detail)
        out.print(rejects)
