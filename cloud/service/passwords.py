"""Password hashing for the admin center's sign-in (argon2id, argon2-cffi's defaults).

Kept with the service's auth, below the admin center: bootstrapping a principal
sets a password and the sign-in page checks one, and both use this module.
Hashing and verifying cost tens of milliseconds of CPU on purpose; the async
forms run them in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from workloads.errors import CobridgeError

MIN_LENGTH = 12
MAX_LENGTH = 1024
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so that the answer takes as long.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$eCzOb0vishncylqErItFtg$"
    "U3tb2jQn7puM5fbUFm9MP1lJ/Ex5O0j0Ekr0/tRFIHw"
)


class PasswordRejected(CobridgeError):
    """A new password does not meet the rules."""

    code = "password_rejected"


def check_new_password(password: str) -> None:
    """Refuse a password that is too short or too long."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(
            f"the password is too short: use at least {MIN_LENGTH} characters",
            hint="a passphrase of a few words is easy to type and hard to guess",
        )
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"the password is longer than {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of a new password (checked against the rules first)."""
    check_new_password(password)
    return _HASHER.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password[:MAX_LENGTH]) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`; False (after as long) when there is none."""
    return await asyncio.to_thread(_verify, password_hash, password)
