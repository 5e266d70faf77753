"""Admin API: who am I, principals, tokens, attach codes, hierarchies, connectors, MDM, audit.

Every handler scopes by `call.tenant_id`, the caller's own tenant: an id of
another tenant's object is simply not found.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from cloud.contract.admin import (
    AttachCodeCreate,
    AttachCodeCreated,
    AttachCodeOut,
    Me,
    PrincipalCreate,
    PrincipalOut,
    Role,
    TenantOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
)
from cloud.contract.attach import ConnectorOut, HierarchyOut
from cloud.contract.naming import CamelModel
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.store import attach as attach_store
from cloud.store import tenancy
from cloud.store.linking import enroll_mdm_device
from cloud.store.schema import audit_log

api = Api()
ADMIN = {"auth": "admin", "listener": "admin"}


def aware(value: Any) -> Any:
    """A stored naive-UTC time as an aware one."""
    return value.replace(tzinfo=UTC) if value is not None else None


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
            await _audit(
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
        await _audit(
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
        await _audit(conn, call, "token.revoke", call.param("tokenId"))


@api.route(
    "GET",
    "/api/v1/attachCodes",
    role=Role.ADMIN,
    response=AttachCodeOut,
    list_response=True,
    tags=("attach",),
    **ADMIN,
)
async def list_attach_codes(call: Call) -> list[AttachCodeOut]:
    """Attach codes issued by the tenant (never the codes themselves)."""
    async with call.state.engine.connect() as conn:
        rows = await tenancy.list_attach_codes(conn, call.tenant_id)
    return [
        AttachCodeOut(
            code_id=r["code_id"],
            created_at=aware(r["created_at"]),
            expires_at=aware(r["expires_at"]),
            used_at=aware(r["used_at"]),
            connector_id=r["connector_id"],
            hierarchy_id=r["hierarchy_id"],
        )
        for r in rows
    ]


@api.route(
    "POST",
    "/api/v1/attachCodes",
    role=Role.ADMIN,
    body=AttachCodeCreate,
    response=AttachCodeCreated,
    status=201,
    tags=("attach",),
    **ADMIN,
)
async def create_attach_code(call: Call) -> AttachCodeCreated:
    """Issue a one-time attach code for a connector installation."""
    body: AttachCodeCreate = call.body
    caller = call.principal
    assert caller is not None
    async with call.state.engine.begin() as conn:
        code_id, code, expires = await tenancy.create_attach_code(
            conn,
            tenant_id=call.tenant_id,
            created_by=caller.principal_id,
            lifetime=timedelta(hours=body.expires_in_hours),
            hierarchy_id=body.hierarchy_id,
            now=call.state.clock(),
        )
        await _audit(conn, call, "attach_code.create", code_id, {"hierarchyId": body.hierarchy_id})
    return AttachCodeCreated(
        code_id=code_id, code=code, expires_at=aware(expires), hierarchy_id=body.hierarchy_id
    )


def hierarchy_out(row: Any) -> HierarchyOut:
    """A hierarchy row as the wire model."""
    return HierarchyOut(
        hierarchy_id=row["hierarchy_id"],
        site_code=row["site_code"],
        site_name=row["site_name"],
        site_version=row["site_version"],
        connector_id=row["connector_id"],
        connector_version=row["connector_version"],
        registered_at=aware(row["registered_at"]),
        last_heartbeat_at=aware(row["last_heartbeat_at"]),
        last_applied_sequence=row["last_applied_sequence"],
        status=row["status"],
        detached_at=aware(row["detached_at"]),
        purge_after=aware(row["purge_after"]),
        device_count=row.get("device_count", 0) or 0,
    )


@api.route(
    "GET",
    "/api/v1/hierarchies",
    role=Role.VIEWER,
    response=HierarchyOut,
    list_response=True,
    tags=("attach",),
    **ADMIN,
)
async def list_hierarchies(call: Call) -> list[HierarchyOut]:
    """Hierarchies attached to the tenant, with heartbeat, status and device counts."""
    async with call.state.engine.connect() as conn:
        return [hierarchy_out(r) for r in await attach_store.list_hierarchies(conn, call.tenant_id)]


@api.route(
    "GET",
    "/api/v1/hierarchies/{hierarchyId}",
    role=Role.VIEWER,
    response=HierarchyOut,
    tags=("attach",),
    **ADMIN,
)
async def get_hierarchy(call: Call) -> HierarchyOut:
    """One attached hierarchy."""
    for row in await list_hierarchies(call):
        if row.hierarchy_id == call.param("hierarchyId"):
            return row
    raise ApiError("not_found", "no such hierarchy in this tenant")


@api.route(
    "POST",
    "/api/v1/hierarchies/{hierarchyId}/detach",
    role=Role.ADMIN,
    response=HierarchyOut,
    tags=("attach",),
    **ADMIN,
)
async def detach_hierarchy(call: Call) -> HierarchyOut:
    """Detach a hierarchy: its connectors are revoked now, its devices leave after the retention."""
    hierarchy_id = call.param("hierarchyId")
    retention = timedelta(days=call.state.settings.detach_retention_days)
    async with call.state.engine.begin() as conn:
        done = await attach_store.detach_hierarchy(
            conn, call.tenant_id, hierarchy_id, retention=retention, now=call.state.clock()
        )
        if not done:
            raise ApiError("not_found", "no such attached hierarchy in this tenant")
        await _audit(
            conn, call, "hierarchy.detach", hierarchy_id, {"retentionDays": retention.days}
        )
    return await get_hierarchy(call)


@api.route(
    "GET",
    "/api/v1/connectors",
    role=Role.VIEWER,
    response=ConnectorOut,
    list_response=True,
    tags=("attach",),
    **ADMIN,
)
async def list_connectors(call: Call) -> list[ConnectorOut]:
    """Enrolled connectors and their current certificates."""
    async with call.state.engine.connect() as conn:
        rows = await attach_store.list_connectors(conn, call.tenant_id)
    return [
        ConnectorOut(
            connector_id=r["connector_id"],
            hierarchy_id=r["hierarchy_id"],
            certificate_serial=r["serial"],
            certificate_not_after=aware(r["not_after"]),
            enrolled_at=aware(r["enrolled_at"]),
            last_seen_at=aware(r["last_seen_at"]),
            revoked_at=aware(r["revoked_at"]),
        )
        for r in rows
    ]


@api.route(
    "POST",
    "/api/v1/connectors/{connectorId}/revoke",
    role=Role.ADMIN,
    status=204,
    tags=("attach",),
    **ADMIN,
)
async def revoke_connector(call: Call) -> None:
    """Revoke a connector and all its certificates, effective on its next call."""
    async with call.state.engine.begin() as conn:
        done = await attach_store.revoke_connector(
            conn, call.tenant_id, call.param("connectorId"), call.state.clock()
        )
        if not done:
            raise ApiError("not_found", "no such active connector in this tenant")
        await _audit(conn, call, "connector.revoke", call.param("connectorId"))


class MdmEnrollment(CamelModel):
    """A device enrolled in the tenant over MDM (as the MDM service records it)."""

    azure_ad_device_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )
    device_name: str = Field(min_length=1, max_length=255)
    os_version: str | None = Field(default=None, max_length=64)


class MdmEnrollmentResult(CamelModel):
    """Where the enrollment landed: linked to an attached device, a new device, or disputed."""

    id: str
    outcome: str


@api.route(
    "POST",
    "/api/v1/managedDevices",
    role=Role.OPERATOR,
    body=MdmEnrollment,
    response=MdmEnrollmentResult,
    status=201,
    tags=("devices",),
    **ADMIN,
)
async def record_mdm_enrollment(call: Call) -> MdmEnrollmentResult:
    """Record an MDM enrollment; it links to the attached device with the same AADDeviceID."""
    body: MdmEnrollment = call.body
    async with call.state.engine.begin() as conn:
        device_id, outcome = await enroll_mdm_device(
            conn,
            call.tenant_id,
            aad_device_id=body.azure_ad_device_id,
            device_name=body.device_name,
            os_version=body.os_version,
            now=call.state.clock(),
        )
        await _audit(conn, call, "device.mdm_enroll", device_id, {"outcome": outcome})
    return MdmEnrollmentResult(id=device_id, outcome=outcome)


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


async def _audit(
    conn: Any, call: Call, action: str, target: str | None, details: dict[str, Any] | None = None
) -> None:
    principal = call.principal
    actor = f"principal:{principal.name}" if principal else "system"
    await tenancy.audit(
        conn,
        tenant_id=call.tenant_id,
        actor=actor,
        action=action,
        target=target,
        now=call.state.clock(),
        details=details,
    )
