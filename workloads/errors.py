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
