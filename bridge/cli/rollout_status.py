"""How `cobridge workloads status` prints a rollout's status (`bridge.rollout.status`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def show_status(found: dict[str, Any] | None, out: Console) -> None:
    """Print a status for people."""
    if found is None:
        out.print("No rollout has run. `cobridge workloads plan FILE` shows what one would do.")
        return
    state = "active" if found["active"] else "ended"
    out.print(f"Rollout [bold]{found['name']}[/bold] ({found['rolloutId']}), {state}")
    out.print(f"  {found['summary']}")
    out.print(f"  started by {found['createdBy']} at {found['createdAt']}")
    out.print(f"  plan hash {found['planHash']}")
    out.print(f"  workloads: {', '.join(found['workloads'])}")
    stages = Table(title="Stages", title_justify="left")
    for column in ("stage", "what", "soak", "status"):
        stages.add_column(column)
    for s in found["stages"]:
        stages.add_row(str(s["stage"]), s["label"], s["soak"], s["status"])
    out.print(stages)
    h = found["health"]
    out.print(
        f"Handoffs since it started: {h['touched']} (in flight {h['unsettled']}, "
        f"stalled {h['stalled']}, failed {h['failed']}); drift conflicts {h['conflicts']}"
    )
    history = Table(title="History", title_justify="left")
    for column in ("seq", "at", "who", "what", "details"):
        history.add_column(column)
    for e in found["history"]:
        details = ", ".join(f"{k}={v}" for k, v in e["details"].items())
        history.add_row(str(e["seq"]), e["at"], e["actor"], e["action"], details)
    out.print(history)
