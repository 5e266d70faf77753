"""Admin API, tenancy: who am I, principals, API tokens, the audit log.

Every handler scopes by `call.tenant_id`, the caller's own tenant: an id of
another tenant's object is simply not found.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from cloud.contract.admin import (
    Me,
    PrincipalCreate,
    PrincipalOut,
    Role,
    TenantOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
)
from cloud.contract.naming import CamelModel
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, audit, aware
from cloud.store import tenancy
from cloud.store.schema import audit_log

api = Api()

api = Api()


@api.route("GET", "/api/v1/me", role=Role.VIEWER, response=Me, tags=("tenant",), **ADMIN)
async def me(call: Call) -> Me:
    """The calling principal and their tenant."""
    async with call.state.engine.connect() as conn:
        principal = await tenancy.get_principal(conn, call.tenant_id, call.principal.principal_id)  # type: ignore[union-attr]
        tenant = await tenancy.get_tenant(conn, call.tenant_id)
    assert principal is not None
    assert tenant is not None
    return Me(principal=_principal(principal), tenant=_tenant(tenant))


def _tenant(row: Any) -> TenantOut:
    return TenantOut(
        tenant_id=row["tenant_id"], name=row["name"], created_at=aware(row["created_at"])
    )


def _principal(row: Any) -> PrincipalOut:
    return PrincipalOut(
        principal_id=row["principal_id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=aware(row["created_at"]),
        disabled_at=aware(row["disabled_at"]),
    )


@api.route(
    "GET",
    "/api/v1/principals",
    role=Role.ADMIN,
    response=PrincipalOut,
    list_response=True,
    tags=("tenant",),
    **ADMIN,
)
async def list_principals(call: Call) -> list[PrincipalOut]:
    """The tenant's admin principals."""
    async with call.state.engine.connect() as conn:
        return [_principal(r) for r in await tenancy.list_principals(conn, call.tenant_id)]


@api.route(
    "POST",
    "/api/v1/principals",
    role=Role.ADMIN,
    body=PrincipalCreate,
    response=PrincipalOut,
    status=201,
    tags=("tenant",),
    **ADMIN,
)
async def create_principal(call: Call) -> PrincipalOut:
    """Add an admin principal to the tenant."""
    body: PrincipalCreate = call.body
    now = call.state.clock()
    try:
        async with call.state.engine.begin() as conn:
            created = await tenancy.create_principal(
                conn, tenant_id=call.tenant_id, name=body.name, role=body.role, now=now
            )
            await audit(
                conn,
                call,
                "principal.create",
                created.principal_id,
                {"name": body.name, "role": body.role.value},
            )
    except sa.exc.IntegrityError:
        raise ApiError(
            "conflict", f"a principal named {body.name!r} exists already", target="name"
        ) from None
    return PrincipalOut(
        principal_id=created.principal_id,
        name=created.name,
        role=created.role,
        created_at=aware(now),
    )


@api.route(
    "GET",
    "/api/v1/tokens",
    role=Role.VIEWER,
    response=TokenOut,
    list_response=True,
    tags=("tenant",),
    **ADMIN,
)
async def list_tokens(call: Call) -> list[TokenOut]:
    """API tokens: all of the tenant's for admins, one's own otherwise."""
    principal = call.principal
    assert principal is not None
    only = None if principal.role is Role.ADMIN else principal.principal_id
    async with call.state.engine.connect() as conn:
        rows = await tenancy.list_tokens(conn, call.tenant_id, only)
    return [
        TokenOut(
            token_id=r["token_id"],
            principal_id=r["principal_id"],
            name=r["name"],
            created_at=aware(r["created_at"]),
            expires_at=aware(r["expires_at"]),
            revoked_at=aware(r["revoked_at"]),
            last_used_at=aware(r["last_used_at"]),
        )
        for r in rows
    ]


@api.route(
    "POST",
    "/api/v1/tokens",
    role=Role.VIEWER,
    body=TokenCreate,
    response=TokenCreated,
    status=201,
    tags=("tenant",),
    **ADMIN,
)
async def create_token(call: Call) -> TokenCreated:
    """Create an API token for yourself, or (admins) for another principal of the tenant.

    Viewers change nothing, their own tokens included: an admin issues theirs.
    """
    body: TokenCreate = call.body
    caller = call.principal
    assert caller is not None
    now = call.state.clock()
    async with call.state.engine.begin() as conn:
        target = caller
        if body.principal_id and body.principal_id != caller.principal_id:
            if caller.role is not Role.ADMIN:
                raise ApiError("forbidden", "only admins create tokens for other principals")
            row = await tenancy.get_principal(conn, call.tenant_id, body.principal_id)
            if row is None:
                raise ApiError(
                    "not_found", "no such principal in this tenant", target="principalId"
                )
            target = tenancy.Principal(
                call.tenant_id, row["principal_id"], row["name"], Role(row["role"])
            )
        token_id, token, expires = await tenancy.create_token(
            conn,
            principal=target,
            name=body.name,
            lifetime=timedelta(days=body.expires_in_days),
            now=now,
        )
        await audit(
            conn,
            call,
            "token.create",
            token_id,
            {"principalId": target.principal_id, "name": body.name},
        )
    return TokenCreated(
        token_id=token_id, token=token, principal_id=target.principal_id, expires_at=aware(expires)
    )


@api.route(
    "DELETE", "/api/v1/tokens/{tokenId}", role=Role.OPERATOR, status=204, tags=("tenant",), **ADMIN
)
async def revoke_token(call: Call) -> None:
    """Revoke an API token (your own, or any of the tenant's for admins)."""
    caller = call.principal
    assert caller is not None
    only = None if caller.role is Role.ADMIN else caller.principal_id
    async with call.state.engine.begin() as conn:
        done = await tenancy.revoke_token(
            conn, call.tenant_id, call.param("tokenId"), call.state.clock(), principal_id=only
        )
        if not done:
            raise ApiError("not_found", "no such active token")
        await audit(conn, call, "token.revoke", call.param("tokenId"))


class AuditEntry(CamelModel):
    """One audited change."""

    at: Any
    actor: str
    action: str
    target: str | None
    details: dict[str, Any] | None


@api.route(
    "GET",
    "/api/v1/auditLog",
    role=Role.ADMIN,
    response=AuditEntry,
    list_response=True,
    tags=("tenant",),
    **ADMIN,
)
async def read_audit_log(call: Call) -> list[AuditEntry]:
    """The newest 500 audit entries of the tenant."""
    stmt = (
        sa.select(audit_log)
        .where(audit_log.c.tenant_id == call.tenant_id)
        .order_by(audit_log.c.at.desc())
        .limit(500)
    )
    async with call.state.engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [
        AuditEntry(
            at=aware(r["at"]).isoformat(),
            actor=r["actor"],
            action=r["action"],
            target=r["target"],
            details=r["details"],
        )
        for r in rows
    ]
