"""The rollout's part of each arbitration pass: the overlay before, the signals after.

Before the pass, the active rollout (if any) gives the overlay the arbiter
computes desired holders with. After the pass, the rollout is read again (an
operator may have paused or rolled it back meanwhile) and fed, in order:

1. a health sample of the handoffs of its workloads since it started
   (failed, stalled, conflicts), judged by its gates;
2. `StageApplied` when the stage was admitted in this pass's overlay, the
   read was complete and none of its workloads' handoffs is in flight;
   `RollbackApplied` likewise for a rollback admitting nobody;
3. a `Tick`, which ends a soak that has run its time.

A failure here (the audit key unreadable, the state unavailable) is logged
and the next pass tries again; it never stops arbitration.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bridge.rollout.engine import ActiveRollout, RolloutEngine
from workloads.errors import CobridgeError
from workloads.rollout import (
    HealthSample,
    RollbackApplied,
    RolloutEvent,
    RolloutPhase,
    RolloutState,
    StageApplied,
    Tick,
)

log = logging.getLogger("cobridge.rollout")

# A handoff in flight longer than this counts as stalled (as in `cobridge status`).
STALLED_AFTER = timedelta(minutes=10)
_WATCHED = (RolloutPhase.APPLYING, RolloutPhase.SOAKING, RolloutPhase.PAUSED)


class RolloutDriver:
    """Gives the arbiter the overlay, and the rollout the pass's outcome."""

    def __init__(self, engine: RolloutEngine, *, stalled_after: timedelta = STALLED_AFTER) -> None:
        self.engine = engine
        self.stalled_after = stalled_after

    def before_pass(self) -> ActiveRollout | None:
        """The active rollout for this pass, or None (errors logged: no overlay then)."""
        try:
            return self.engine.active()
        except CobridgeError as exc:
            log.warning("cannot read the active rollout (the pass runs without it): %s", exc)
            return None

    def after_pass(self, used: ActiveRollout, *, complete: bool) -> RolloutState | None:
        """Signal the pass's outcome to the rollout it ran with; its state after, or None."""
        try:
            return self._after_pass(used, complete=complete)
        except CobridgeError as exc:
            log.warning("rollout step failed (the next pass tries again): %s", exc)
            return None

    def _after_pass(self, used: ActiveRollout, *, complete: bool) -> RolloutState | None:
        engine = self.engine
        current = engine.active()
        if current is None or current.stored.rollout_id != used.stored.rollout_id:
            return None
        now = engine.clock()
        health = engine.state.authority.health(
            current.workloads,
            since=current.stored.created_at,
            stalled_before=now - self.stalled_after,
        )
        phase, stage = current.state.phase, current.state.stage
        events: list[RolloutEvent] = []
        if phase in _WATCHED:
            events.append(
                HealthSample(
                    at=now,
                    handoffs=health["touched"],
                    failed=health["failed"],
                    stalled=health["stalled"],
                    conflicts=health["conflicts"],
                )
            )
        settled = complete and health["unsettled"] == 0
        admitted = used.overlay.admitted_through
        if settled and phase is RolloutPhase.APPLYING and 0 < stage <= admitted:
            events.append(StageApplied(stage=stage, at=now))
        if settled and phase is RolloutPhase.ROLLING_BACK and admitted == 0:
            events.append(RollbackApplied(at=now))
        events.append(Tick(at=now))
        after = engine.signal(current, events)
        if after.phase is not phase or after.stage != stage:
            log.info(
                "rollout %s: %s stage %d -> %s stage %d",
                current.stored.name,
                phase.value,
                stage,
                after.phase.value,
                after.stage,
            )
        return after
