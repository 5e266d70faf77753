"""Operator bootstrap: tenants with their CA, first admins, tokens and attach codes.

What `cobridge cloud tenant|admin|token|attach-code create` do, and what the
demo and the tests use to set up a tenant without a prior credential.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from cloud import pki
from cloud.contract.admin import Role
from cloud.service.passwords import hash_password
from cloud.service.state import ServiceState
from cloud.store import tenancy, web_sessions
from workloads.errors import CobridgeError


class BootstrapError(CobridgeError):
    """A bootstrap step cannot be done as asked."""

    code = "bootstrap_error"


async def create_tenant(state: ServiceState, name: str) -> str:
    """A new tenant with its own CA (key sealed at rest); its id."""
    tenant_id = str(uuid.uuid4())
    now = state.clock()
    ca = pki.create_tenant_ca(state.root, tenant_id, now)
    try:
        async with state.engine.begin() as conn:
            await tenancy.create_tenant(
                conn,
                tenant_id=tenant_id,
                name=name,
                ca_cert_pem=ca.cert_pem.decode(),
                ca_sealed_key=state.box.seal(ca.key_pem, purpose=f"tenant-ca:{tenant_id}"),
                now=now,
            )
            await tenancy.audit(
                conn,
                tenant_id=tenant_id,
                actor="operator",
                action="tenant.create",
                target=name,
                now=now,
            )
    except sa.exc.IntegrityError:
        raise BootstrapError(
            f"a tenant named {name!r} exists already", hint="pick another name"
        ) from None
    return tenant_id


async def _tenant_id(state: ServiceState, tenant: str) -> str:
    async with state.engine.connect() as conn:
        row = await tenancy.find_tenant(conn, tenant)
    if row is None:
        raise BootstrapError(
            f"no tenant with id or name {tenant!r}",
            hint="list them with the admin API, or create one",
        )
    return row["tenant_id"]


async def create_admin(
    state: ServiceState, tenant: str, name: str, role: Role, *, password: str | None = None
) -> tenancy.Principal:
    """A new principal of the tenant (by id or name), with an admin center password if given."""
    tenant_id = await _tenant_id(state, tenant)
    now = state.clock()
    password_hash = hash_password(password) if password is not None else None
    try:
        async with state.engine.begin() as conn:
            principal = await tenancy.create_principal(
                conn, tenant_id=tenant_id, name=name, role=role, now=now
            )
            if password_hash is not None:
                await web_sessions.set_password_hash(
                    conn, tenant_id, principal.principal_id, password_hash
                )
            await tenancy.audit(
                conn,
                tenant_id=tenant_id,
                actor="operator",
                action="principal.create",
                target=name,
                now=now,
                details={"role": role.value},
            )
    except sa.exc.IntegrityError:
        raise BootstrapError(f"tenant {tenant!r} already has a principal named {name!r}") from None
    return principal


async def set_password(state: ServiceState, tenant: str, name: str, password: str) -> None:
    """Set a principal's admin center password (ends its sessions, lifts a lock)."""
    tenant_id = await _tenant_id(state, tenant)
    password_hash = hash_password(password)
    async with state.engine.begin() as conn:
        rows = await tenancy.list_principals(conn, tenant_id)
        match = next((r for r in rows if r["name"] == name), None)
        if match is None:
            raise BootstrapError(f"tenant {tenant!r} has no principal named {name!r}")
        await web_sessions.set_password_hash(conn, tenant_id, match["principal_id"], password_hash)
        await tenancy.audit(
            conn,
            tenant_id=tenant_id,
            actor="operator",
            action="principal.set_password",
            target=name,
            now=state.clock(),
        )


async def create_token(
    state: ServiceState, tenant: str, principal_name: str, days: int
) -> tuple[str, str]:
    """An API token for a principal of the tenant; (token_id, token)."""
    tenant_id = await _tenant_id(state, tenant)
    async with state.engine.begin() as conn:
        rows = await tenancy.list_principals(conn, tenant_id)
        match = next((r for r in rows if r["name"] == principal_name), None)
        if match is None:
            raise BootstrapError(f"tenant {tenant!r} has no principal named {principal_name!r}")
        principal = tenancy.Principal(
            tenant_id, match["principal_id"], match["name"], Role(match["role"])
        )
        token_id, token, _ = await tenancy.create_token(
            conn,
            principal=principal,
            name="bootstrap",
            lifetime=timedelta(days=days),
            now=state.clock(),
        )
        await tenancy.audit(
            conn,
            tenant_id=tenant_id,
            actor="operator",
            action="token.create",
            target=token_id,
            now=state.clock(),
        )
    return token_id, token


async def create_attach_code(
    state: ServiceState, tenant: str, hours: int, hierarchy_id: str | None
) -> str:
    """A one-time attach code for the tenant."""
    tenant_id = await _tenant_id(state, tenant)
    async with state.engine.begin() as conn:
        code_id, code, _ = await tenancy.create_attach_code(
            conn,
            tenant_id=tenant_id,
            created_by="operator",
            lifetime=timedelta(hours=hours),
            hierarchy_id=hierarchy_id,
            now=state.clock(),
        )
        await tenancy.audit(
            conn,
            tenant_id=tenant_id,
            actor="operator",
            action="attach_code.create",
            target=code_id,
            now=state.clock(),
        )
    return code
