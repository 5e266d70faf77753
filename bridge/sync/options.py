"""What a cycle is told (`SyncOptions`) and what it reports (`CycleReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onprem.site_statements import ReadScope
from workloads.errors import CobridgeError


class CycleStopped(CobridgeError):
    """The cycle stopped early because the connector is shutting down."""

    code = "cycle_stopped"


@dataclass(frozen=True)
class SyncOptions:
    """How cycles run (from `[sync]` of the connector settings)."""

    batch_size: int = 1000
    in_flight: int = 4
    delete_guard_count: int = 500
    delete_guard_percent: float = 10
    scope: ReadScope = field(default_factory=ReadScope)
    spill_dir: Path | None = None


@dataclass
class CycleReport:
    """What one cycle did: the run record's counts, and its outcome."""

    run_id: str
    kind: str
    outcome: str = "failed"
    error: str | None = None
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    situations: dict[str, int] = field(default_factory=dict)
