"""Tenants, admin principals, API tokens, attach codes and the audit log.

Secrets (tokens, attach codes) are generated here, returned once, and stored
only as SHA-256 digests: they are long random values, so a fast hash is
enough, and a stolen database yields nothing usable.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.admin import Role
from cloud.store.schema import api_tokens, attach_codes, audit_log, principals, tenants
from cloud.store.secret_digest import issued_shape, secret_digest

LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_PREFIX = "cbt"  # noqa: S105 - a public prefix, not a secret
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_id() -> str:
    """A new random identifier (UUID 4, canonical text)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Principal:
    """An authenticated admin principal: who, of which tenant, with which role."""

    tenant_id: str
    principal_id: str
    name: str
    role: Role


async def create_tenant(
    conn: AsyncConnection,
    *,
    name: str,
    ca_cert_pem: str,
    ca_sealed_key: bytes,
    now: datetime,
    tenant_id: str,
) -> None:
    """Insert a tenant with its CA (the key sealed by the caller)."""
    await conn.execute(
        tenants.insert().values(
            tenant_id=tenant_id,
            name=name,
            ca_cert_pem=ca_cert_pem,
            ca_sealed_key=ca_sealed_key,
            created_at=now,
        )
    )


async def get_tenant(conn: AsyncConnection, tenant_id: str) -> sa.RowMapping | None:
    """A tenant row, or None."""
    return (
        (await conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id)))
        .mappings()
        .first()
    )


async def find_tenant(conn: AsyncConnection, name_or_id: str) -> sa.RowMapping | None:
    """A tenant by id or by name."""
    stmt = sa.select(tenants).where(
        sa.or_(tenants.c.tenant_id == name_or_id, tenants.c.name == name_or_id)
    )
    return (await conn.execute(stmt)).mappings().first()


async def create_principal(
    conn: AsyncConnection, *, tenant_id: str, name: str, role: Role, now: datetime
) -> Principal:
    """Insert an admin principal."""
    principal = Principal(tenant_id, new_id(), name, role)
    await conn.execute(
        principals.insert().values(
            tenant_id=tenant_id,
            principal_id=principal.principal_id,
            name=name,
            role=role.value,
            created_at=now,
        )
    )
    return principal


async def list_principals(conn: AsyncConnection, tenant_id: str) -> list[sa.RowMapping]:
    """The tenant's principals, by name."""
    stmt = (
        sa.select(principals).where(principals.c.tenant_id == tenant_id).order_by(principals.c.name)
    )
    return list((await conn.execute(stmt)).mappings())


async def get_principal(
    conn: AsyncConnection, tenant_id: str, principal_id: str
) -> sa.RowMapping | None:
    """One principal of the tenant, or None."""
    stmt = sa.select(principals).where(
        principals.c.tenant_id == tenant_id, principals.c.principal_id == principal_id
    )
    return (await conn.execute(stmt)).mappings().first()


async def create_token(
    conn: AsyncConnection, *, principal: Principal, name: str, lifetime: timedelta, now: datetime
) -> tuple[str, str, datetime]:
    """Issue an API token; returns (token_id, token, expires_at). The token is not stored."""
    token_id = uuid.uuid4().hex
    secret = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    await conn.execute(
        api_tokens.insert().values(
            tenant_id=principal.tenant_id,
            token_id=token_id,
            principal_id=principal.principal_id,
            name=name,
            secret_hash=secret_digest(secret),
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", expires_at


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of checking a bearer token."""

    principal: Principal | None
    problem: str | None  # "invalid_token" or "token_expired" when principal is None


async def check_token(conn: AsyncConnection, token: str, now: datetime) -> TokenCheck:
    """Resolve a bearer token to its principal, or say why not."""
    if not issued_shape(token):
        return TokenCheck(None, "invalid_token")
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or len(token_id) != 32 or not secret:
        return TokenCheck(None, "invalid_token")
    # Labelled: the token has a `name` of its own, and it is not the principal's.
    stmt = (
        sa.select(
            api_tokens,
            principals.c.name.label("principal_name"),
            principals.c.role,
            principals.c.disabled_at,
        )
        .join(
            principals,
            sa.and_(
                principals.c.tenant_id == api_tokens.c.tenant_id,
                principals.c.principal_id == api_tokens.c.principal_id,
            ),
        )
        .where(api_tokens.c.token_id == token_id)
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_digest(secret)):
        return TokenCheck(None, "invalid_token")
    if row["revoked_at"] is not None or row["disabled_at"] is not None:
        return TokenCheck(None, "invalid_token")
    if row["expires_at"] <= now:
        return TokenCheck(None, "token_expired")
    last_used = row["last_used_at"]
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        # Recorded at a coarse resolution: a write on every read request would
        # serialise all readers on the store's write lock.
        await conn.execute(
            api_tokens.update()
            .where(api_tokens.c.tenant_id == row["tenant_id"], api_tokens.c.token_id == token_id)
            .values(last_used_at=now)
        )
    return TokenCheck(
        Principal(row["tenant_id"], row["principal_id"], row["principal_name"], Role(row["role"])),
        None,
    )


async def list_tokens(
    conn: AsyncConnection, tenant_id: str, principal_id: str | None
) -> list[sa.RowMapping]:
    """Tokens of the tenant (of one principal when given), newest first."""
    stmt = sa.select(api_tokens).where(api_tokens.c.tenant_id == tenant_id)
    if principal_id is not None:
        stmt = stmt.where(api_tokens.c.principal_id == principal_id)
    return list((await conn.execute(stmt.order_by(api_tokens.c.created_at.desc()))).mappings())


async def revoke_token(
    conn: AsyncConnection,
    tenant_id: str,
    token_id: str,
    now: datetime,
    *,
    principal_id: str | None = None,
) -> bool:
    """Revoke a token of the tenant (only the principal's own when given); False if none."""
    stmt = api_tokens.update().where(
        api_tokens.c.tenant_id == tenant_id,
        api_tokens.c.token_id == token_id,
        api_tokens.c.revoked_at.is_(None),
    )
    if principal_id is not None:
        stmt = stmt.where(api_tokens.c.principal_id == principal_id)
    return (await conn.execute(stmt.values(revoked_at=now))).rowcount == 1


def normalise_attach_code(code: str) -> str:
    """What a person typed, as stored: upper case, separators gone, look-alikes mapped."""
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


async def create_attach_code(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    created_by: str,
    lifetime: timedelta,
    hierarchy_id: str | None,
    now: datetime,
) -> tuple[str, str, datetime]:
    """Issue a one-time attach code (100 random bits); returns (code_id, code, expires_at)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(20))
    code = "-".join(raw[i : i + 5] for i in range(0, 20, 5))
    code_id = new_id()
    expires_at = now + lifetime
    await conn.execute(
        attach_codes.insert().values(
            tenant_id=tenant_id,
            code_id=code_id,
            code_hash=secret_digest(normalise_attach_code(code)),
            hierarchy_id=hierarchy_id,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return code_id, code, expires_at


async def consume_attach_code(
    conn: AsyncConnection, code: str, *, connector_id: str, now: datetime
) -> sa.RowMapping | None:
    """Use a valid, unused, unexpired code once; the code's row, or None.

    The conditional UPDATE makes use single even under concurrent enrollments.
    """
    code_hash = secret_digest(normalise_attach_code(code))
    row = (
        (await conn.execute(sa.select(attach_codes).where(attach_codes.c.code_hash == code_hash)))
        .mappings()
        .first()
    )
    if row is None or row["used_at"] is not None or row["expires_at"] <= now:
        return None
    claimed = await conn.execute(
        attach_codes.update()
        .where(
            attach_codes.c.tenant_id == row["tenant_id"],
            attach_codes.c.code_id == row["code_id"],
            attach_codes.c.used_at.is_(None),
        )
        .values(used_at=now, connector_id=connector_id)
    )
    return row if claimed.rowcount == 1 else None


async def spent_attach_code(conn: AsyncConnection, code: str) -> sa.RowMapping | None:
    """The row of a code already used (for an enrollment's replay), or None."""
    code_hash = secret_digest(normalise_attach_code(code))
    row = (
        (await conn.execute(sa.select(attach_codes).where(attach_codes.c.code_hash == code_hash)))
        .mappings()
        .first()
    )
    return row if row is not None and row["used_at"] is not None else None


async def list_attach_codes(conn: AsyncConnection, tenant_id: str) -> list[sa.RowMapping]:
    """The tenant's attach codes (metadata only), newest first."""
    stmt = (
        sa.select(attach_codes)
        .where(attach_codes.c.tenant_id == tenant_id)
        .order_by(attach_codes.c.created_at.desc())
    )
    return list((await conn.execute(stmt)).mappings())


async def audit(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    actor: str,
    action: str,
    target: str | None,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an entry to the tenant's audit log (never with secrets in `details`)."""
    await conn.execute(
        audit_log.insert().values(
            tenant_id=tenant_id,
            entry_id=new_id(),
            at=now,
            actor=actor,
            action=action,
            target=target,
            details=details,
        )
    )
