"""Admin center sign-in: password hashes, failed-attempt locks and web sessions.

The store keeps what a stolen copy must not make usable: password hashes (made
by the caller with argon2) and the SHA-256 digests of session secrets (long
random values, so a fast hash is enough, as for API tokens). Every statement
is scoped by tenant.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.admin import Role
from cloud.store.schema import principals, sign_in_failures, web_sessions
from cloud.store.secret_digest import issued_shape, secret_digest
from cloud.store.tenancy import Principal

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE = timedelta(hours=1)
# Written at a coarse resolution: a write per page view would serialise readers.
_SEEN_RESOLUTION = timedelta(minutes=1)


async def set_password_hash(
    conn: AsyncConnection, tenant_id: str, principal_id: str, password_hash: str | None
) -> bool:
    """Store (or clear) a principal's password hash; False if there is no such principal.

    Also lifts a lock and ends the principal's sessions: a new password is a new start.
    """
    changed = await conn.execute(
        principals.update()
        .where(principals.c.tenant_id == tenant_id, principals.c.principal_id == principal_id)
        .values(password_hash=password_hash)
    )
    if changed.rowcount != 1:
        return False
    for table in (sign_in_failures, web_sessions):
        await conn.execute(
            table.delete().where(
                table.c.tenant_id == tenant_id, table.c.principal_id == principal_id
            )
        )
    return True


@dataclass(frozen=True)
class SignInCandidate:
    """A principal a sign-in names, with what deciding on it needs."""

    principal: Principal
    password_hash: str | None
    locked: bool


async def sign_in_candidate(
    conn: AsyncConnection, tenant_id: str, name: str, now: datetime
) -> SignInCandidate | None:
    """The enabled principal of the tenant named `name`, or None."""
    stmt = (
        sa.select(principals, sign_in_failures.c.locked_until)
        .outerjoin(
            sign_in_failures,
            sa.and_(
                sign_in_failures.c.tenant_id == principals.c.tenant_id,
                sign_in_failures.c.principal_id == principals.c.principal_id,
            ),
        )
        .where(
            principals.c.tenant_id == tenant_id,
            principals.c.name == name,
            principals.c.disabled_at.is_(None),
        )
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        return None
    principal = Principal(tenant_id, row["principal_id"], row["name"], Role(row["role"]))
    locked = row["locked_until"] is not None and row["locked_until"] > now
    return SignInCandidate(principal, row["password_hash"], locked)


async def record_failure(
    conn: AsyncConnection, tenant_id: str, principal_id: str, now: datetime
) -> bool:
    """Count a failed sign-in; True when it locks the principal."""
    key = (sign_in_failures.c.tenant_id == tenant_id) & (
        sign_in_failures.c.principal_id == principal_id
    )
    row = (await conn.execute(sa.select(sign_in_failures).where(key))).mappings().first()
    if row is None or row["window_started_at"] <= now - FAILURE_WINDOW:
        failures, started = 1, now
    else:
        failures, started = row["failures"] + 1, row["window_started_at"]
    locked_until = now + LOCK_TIME if failures >= MAX_FAILURES else None
    values = {"failures": failures, "window_started_at": started, "locked_until": locked_until}
    if locked_until is not None:
        # The lock starts a new window: after it, five more tries.
        values.update(failures=0, window_started_at=now)
    if row is None:
        await conn.execute(
            sign_in_failures.insert().values(
                tenant_id=tenant_id, principal_id=principal_id, **values
            )
        )
    else:
        await conn.execute(sign_in_failures.update().where(key).values(**values))
    return locked_until is not None


async def clear_failures(conn: AsyncConnection, tenant_id: str, principal_id: str) -> None:
    """Forget the failed sign-ins of a principal (after a successful one)."""
    await conn.execute(
        sign_in_failures.delete().where(
            sign_in_failures.c.tenant_id == tenant_id,
            sign_in_failures.c.principal_id == principal_id,
        )
    )


async def create_session(conn: AsyncConnection, principal: Principal, now: datetime) -> str:
    """A new session for the principal; returns the cookie value "<id>.<secret>" (not stored)."""
    session_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        web_sessions.insert().values(
            tenant_id=principal.tenant_id,
            session_id=session_id,
            principal_id=principal.principal_id,
            secret_hash=secret_digest(secret),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            last_seen_at=now,
        )
    )
    return f"{session_id}.{secret}"


def _split(cookie: str) -> tuple[str, str] | None:
    session_id, _, secret = cookie.partition(".")
    if not issued_shape(cookie) or len(session_id) != 32 or not secret or len(secret) > 128:
        return None
    return session_id, secret


async def check_session(conn: AsyncConnection, cookie: str, now: datetime) -> Principal | None:
    """The principal of a current session cookie, or None (unknown, expired, idle, disabled)."""
    parts = _split(cookie)
    if parts is None:
        return None
    session_id, secret = parts
    stmt = (
        sa.select(web_sessions, principals.c.name, principals.c.role, principals.c.disabled_at)
        .join(
            principals,
            sa.and_(
                principals.c.tenant_id == web_sessions.c.tenant_id,
                principals.c.principal_id == web_sessions.c.principal_id,
            ),
        )
        .where(web_sessions.c.session_id == session_id)
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_digest(secret)):
        return None
    if row["disabled_at"] is not None or row["expires_at"] <= now:
        return None
    if row["last_seen_at"] <= now - SESSION_IDLE:
        return None
    if now - row["last_seen_at"] >= _SEEN_RESOLUTION:
        await conn.execute(
            web_sessions.update()
            .where(
                web_sessions.c.tenant_id == row["tenant_id"],
                web_sessions.c.session_id == session_id,
            )
            .values(last_seen_at=now)
        )
    return Principal(row["tenant_id"], row["principal_id"], row["name"], Role(row["role"]))


async def end_session(conn: AsyncConnection, cookie: str) -> None:
    """Delete the session a cookie names (sign-out); nothing if it names none."""
    parts = _split(cookie)
    if parts is None:
        return
    session_id, secret = parts
    await conn.execute(
        web_sessions.delete().where(
            web_sessions.c.session_id == session_id,
            web_sessions.c.secret_hash == secret_digest(secret),
        )
    )


async def purge_sessions(conn: AsyncConnection, now: datetime) -> int:
    """Delete sessions that can no longer sign anyone in (expired or idle); how many.

    A maintenance job over every tenant, the one statement here not scoped by
    one: it only ever removes rows no cookie can use any more.
    """
    result = await conn.execute(
        web_sessions.delete().where(
            sa.or_(
                web_sessions.c.expires_at <= now,
                web_sessions.c.last_seen_at <= now - SESSION_IDLE,
            )
        )
    )
    return int(result.rowcount or 0)
