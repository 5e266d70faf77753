"""The rollout engine: apply a reviewed plan, move it stage by stage, pause, abort, roll back.

The pure state machine (`workloads.rollout`) decides; this module persists
its state with the audit entries of each step in one transaction, and feeds
it the arbiter's signals. While a rollout runs, the site's sliders stay as
they were: the arbiter holds admitted devices as the target settings say and
every other device as before (`RolloutOverlay`), so rolling back or aborting
is admitting nobody. Only when the rollout completes are the target sliders
written to the site, before the rollout is saved as ended: a crash in between
leaves it active at its final stage, whose holders already are the target's,
and the next pass completes it again.

One rollout at a time: the store refuses a second (`RolloutActive`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bridge.audit import AuditEvent, AuditSigner, AuditStore, append
from bridge.state.ports import WithAuthority, WithRollouts
from bridge.state.rollouts import StoredRollout
from onprem.site_authority import CoManagementSettingsStore
from workloads.catalog import Workload, with_dependants
from workloads.errors import CobridgeError
from workloads.rollout import (
    Abort,
    DesiredState,
    Pause,
    Plan,
    Resume,
    Rollback,
    RolloutEvent,
    RolloutOverlay,
    RolloutPhase,
    RolloutState,
    RolloutStep,
    Start,
    WaveSelector,
    advance,
    new_rollout_state,
    parse_desired_state,
)
from workloads.settings import CoManagementSettings


class PlanChanged(CobridgeError):
    """The plan now differs from the one reviewed: apply runs exactly the reviewed plan."""

    code = "plan_changed"


class NothingToApply(CobridgeError):
    """The plan has no changes: there is no rollout to run."""

    code = "nothing_to_apply"


class NoRollout(CobridgeError):
    """A command for a rollout when none is active."""

    code = "no_rollout"


class RolloutTransaction(WithRollouts, AuditStore, Protocol):
    """A rollout's step and its audit entries, in one transaction."""


class RolloutStore(WithRollouts, WithAuthority, Protocol):
    """The rollouts, the journal's health for the driver, and transactions for each step."""

    def transaction(self) -> AbstractContextManager[RolloutTransaction]:
        """One transaction: committed on success, rolled back on error."""
        ...


@dataclass(frozen=True)
class ActiveRollout:
    """The active rollout, read once for a pass: its document, state and overlay."""

    stored: StoredRollout
    document: DesiredState
    state: RolloutState
    overlay: RolloutOverlay

    @property
    def workloads(self) -> list[Workload]:
        """The workloads whose holders the rollout may change (with their dependants)."""
        return with_dependants(self.overlay.targets)


def effective_prior(stored: StoredRollout, current: CoManagementSettings) -> CoManagementSettings:
    """The settings devices not admitted are held by: the site's now, with the rolled
    workloads as they were when the rollout began (an admin's change to another
    workload still counts; the rolled ones are the rollout's to move)."""
    document = parse_desired_state(stored.document, source=f"rollout {stored.name}")
    before = CoManagementSettings.model_validate(stored.prior_settings)
    prior = current
    for workload in document.workloads:
        prior = prior.with_workload(workload, before.setting(workload))
    return prior


class RolloutEngine:
    """Start, command and advance the one rollout; every step audited with its state."""

    def __init__(
        self,
        state: RolloutStore,
        site: CoManagementSettingsStore,
        signer: Callable[[], AuditSigner],
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.state = state
        self.site = site
        self._signer = signer
        self.clock = clock

    def active(self) -> ActiveRollout | None:
        """The active rollout with its overlay over the site's settings now, or None."""
        stored = self.state.rollouts.active()
        if stored is None:
            return None
        document = parse_desired_state(stored.document, source=f"rollout {stored.name}")
        rollout_state = RolloutState.from_dict(stored.state)
        prior = effective_prior(stored, self.site.read_settings())
        overlay = RolloutOverlay(
            prior=prior,
            target=document.target_settings(prior),
            selector=WaveSelector(document.waves, document.salt),
            admitted_through=rollout_state.admitted_through,
        )
        return ActiveRollout(stored, document, rollout_state, overlay)

    def apply(
        self,
        document: DesiredState,
        plan: Plan,
        *,
        reviewed: str,
        by: str,
        rollout_id: str | None = None,
    ) -> StoredRollout:
        """Start the rollout of `plan` (made just now) if it is the reviewed one.

        `rollout_id` (default: a new one) lets a caller that may run the same
        request twice (an order from the tenant) find the rollout it started.
        """
        if plan.plan_hash != reviewed:
            raise PlanChanged(
                f"the plan is now {plan.plan_hash[:12]}…, not the reviewed {reviewed[:12]}…: "
                "the site's devices, collections or settings changed since it was made",
                hint="run `cobridge workloads plan` again, review it, and apply its hash",
            )
        if not plan.has_changes:
            raise NothingToApply(
                "the plan changes no device's holder: nothing to roll out",
                hint="the site already is as the document asks",
            )
        now = self.clock()
        signer = self._signer()
        settings = self.site.read_settings()
        step = advance(
            new_rollout_state(document.name, document.final_stage), Start(now, by), document
        )
        rollout_id = rollout_id or str(uuid.uuid4())
        with self.state.transaction() as tx:
            stored = tx.rollouts.create(
                rollout_id=rollout_id,
                name=document.name,
                document=document.to_dict(),
                plan_hash=plan.plan_hash,
                prior_settings=settings.model_dump(mode="json"),
                state=step.state.to_dict(),
                phase=step.state.phase.value,
                created_by=by,
                now=now,
            )
            applied = {
                "rollout_id": rollout_id,
                "stages": document.final_stage,
                "devices_changing": plan.devices_changing,
                "moves": plan.moves,
                "workloads": [w.value for w in document.changed_workloads(settings)],
            }
            events = [{"action": "rollout.applied", "details": applied}, *step.audit]
            self._audit(tx, signer, stored, events, by=by, now=now)
        return stored

    def command(self, event: Pause | Resume | Abort | Rollback, *, by: str) -> StoredRollout:
        """An operator's pause, resume, abort or rollback of the active rollout."""
        active = self.active()
        if active is None:
            raise NoRollout(
                "no rollout is active", hint="`cobridge workloads status` shows the last one"
            )
        step = advance(active.state, event, active.document)
        self._save(active, step, by=by)
        found = self.state.rollouts.get(active.stored.rollout_id)
        assert found is not None
        return found

    def signal(self, active: ActiveRollout, events: Sequence[RolloutEvent]) -> RolloutState:
        """Feed the engine's signals in order; each step that changes something is saved."""
        rollout_state = active.state
        for event in events:
            step = advance(rollout_state, event, active.document)
            if not step.changed:
                continue
            if step.state.phase is RolloutPhase.COMPLETED:
                self._complete(active)
            self._save(active, step, by="connector")
            rollout_state = step.state
            active = ActiveRollout(active.stored, active.document, rollout_state, active.overlay)
            if rollout_state.terminal:
                break
        return rollout_state

    def _complete(self, active: ActiveRollout) -> None:
        # Written before the rollout is saved as ended (see the module's docstring).
        target = active.document.target_settings(self.site.read_settings())
        self.site.write_settings(
            target, changed_by=f"rollout {active.stored.name}", now=self.clock()
        )

    def _save(self, active: ActiveRollout, step: RolloutStep, *, by: str) -> None:
        now = self.clock()
        signer = self._signer()
        new = step.state
        with self.state.transaction() as tx:
            tx.rollouts.save_state(
                active.stored.rollout_id,
                new.to_dict(),
                new.phase.value,
                ended=new.terminal,
                now=now,
            )
            self._audit(tx, signer, active.stored, list(step.audit), by=by, now=now)

    @staticmethod
    def _audit(
        tx: RolloutTransaction,
        signer: AuditSigner,
        stored: StoredRollout,
        events: list[dict[str, Any]],
        *,
        by: str,
        now: datetime,
    ) -> None:
        for event in events:
            append(
                tx,
                signer,
                AuditEvent(
                    actor=by,
                    action=str(event["action"]),
                    target=f"rollout:{stored.name}:{stored.rollout_id}",
                    details=dict(event.get("details") or {}),
                    plan_hash=stored.plan_hash,
                ),
                now=now,
            )
