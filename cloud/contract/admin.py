"""Tenants, admin principals, API tokens and attach codes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from cloud.contract.attach import HIERARCHY_ID
from cloud.contract.naming import CamelModel, CamelResponse


class Role(StrEnum):
    """What a principal may do: viewers read, operators act on devices, admins configure."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Order of privilege, for `at least` checks."""
        return ("viewer", "operator", "admin").index(self.value)


class TenantOut(CamelResponse):
    """A tenant, as its own admins see it."""

    tenant_id: str
    name: str
    created_at: datetime


class PrincipalCreate(CamelModel):
    """A new admin principal."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
    role: Role


class PrincipalOut(CamelResponse):
    """An admin principal."""

    principal_id: str
    name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None = None


class TokenCreate(CamelModel):
    """A new API token for the caller, or for a principal named by an admin."""

    name: str = Field(min_length=1, max_length=128)
    expires_in_days: int = Field(default=90, ge=1, le=730)
    principal_id: str | None = None


class TokenCreated(CamelResponse):
    """The token itself, shown this once; only its hash is stored."""

    token_id: str
    token: str
    principal_id: str
    expires_at: datetime


class TokenOut(CamelResponse):
    """A token's metadata (never the token)."""

    token_id: str
    principal_id: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class AttachCodeCreate(CamelModel):
    """A one-time code an on-prem admin types into the connector installer."""

    expires_in_hours: int = Field(default=24, ge=1, le=24 * 14)
    hierarchy_id: str | None = Field(default=None, pattern=HIERARCHY_ID)


class AttachCodeCreated(CamelResponse):
    """The code, shown this once."""

    code_id: str
    code: str
    expires_at: datetime
    hierarchy_id: str | None


class AttachCodeOut(CamelResponse):
    """An attach code's metadata (never the code)."""

    code_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    connector_id: str | None
    hierarchy_id: str | None


class Me(CamelResponse):
    """The calling principal and their tenant (the answer of GET /api/v1/me)."""

    principal: PrincipalOut
    tenant: TenantOut
