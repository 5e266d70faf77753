"""The root of cobridge's error tree.

It lives in the innermost package so that every other package may subclass it
(DESIGN.md section 3: everything may import `workloads`, it imports nothing).
Entry points catch `CobridgeError` and print its message; anything else is a
bug and is reported as one.
"""

from __future__ import annotations


class CobridgeError(Exception):
    """An expected failure with a message written for the person who must act on it.

    `code` is stable and machine-readable; `hint` says what to do about it.
    """

    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class DomainError(CobridgeError):
    """A co-management domain rule was asked to do something it cannot."""

    code = "domain_error"


class InvalidFlags(DomainError):
    """A co-management flags integer is not a non-negative integer."""

    code = "invalid_flags"


class InvalidTransition(DomainError):
    """A handoff step does not apply to the authority record it was given."""

    code = "invalid_transition"


class MisroutedCommand(DomainError):
    """A grant or revoke reached a side or record it is not addressed to."""

    code = "misrouted_command"


class EventLogOutOfOrder(DomainError):
    """The invariant checker was fed an event older than one it already read."""

    code = "event_log_out_of_order"


class UnknownWorkload(DomainError, ValueError):
    """A name that is neither a workload's short name nor its Graph feature name.

    Also a ValueError, so that a model validating a workload name reports it
    as the field's problem.
    """

    code = "unknown_workload"

    def __init__(self, name: object, feature_names: list[str]) -> None:
        super().__init__(f"{name!r} is not a workload; use one of: {', '.join(feature_names)}")
        self.name = name


class InconsistentCatalog(DomainError):
    """A workload catalog states a fact twice or refers to a workload it does not hold."""

    code = "inconsistent_catalog"
