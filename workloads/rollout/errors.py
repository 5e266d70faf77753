"""The rollout domain's errors: a desired-state document that does not validate, and an
operator command the rollout's state does not allow."""

from __future__ import annotations

from workloads.errors import CobridgeError, DomainError


class DesiredStateError(CobridgeError):
    """A desired-state document is not valid TOML or does not match the schema.

    `problems` holds every (key path, message) found, in document order; the
    message lists them and the hint says how to fix the first one.
    """

    code = "invalid_desired_state"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


class RolloutRefused(DomainError):
    """An operator command (start, pause, resume, abort, rollback) does not apply now."""

    code = "rollout_refused"
