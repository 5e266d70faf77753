"""Where a directory delta starts: a DirSync cookie or a USN, with the identity of its DC.

A USN means something only on the domain controller that issued it, and only
until that DC is restored from a backup (which gives it a new invocationId);
a DirSync cookie likewise. So a cursor carries the DC's identity and the
scope it was taken for, and `check_cursor` refuses it, with the reason, when
any of them differs: the caller must then run a full read (DESIGN.md 6).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer, field_validator

from onprem.errors import DirectoryRestored, DirectoryResyncRequired

_FULL_READ = "run a full read; its cursor replaces this one"


class DcIdentity(BaseModel):
    """Which domain controller, in which incarnation, answered; read from its rootDSE."""

    model_config = ConfigDict(frozen=True)

    server: str  # dnsHostName
    ds_service_name: str  # the DN of its NTDS Settings object
    invocation_id: uuid.UUID  # changes when the DC's database is restored
    naming_context: str  # the domain partition holding the base DNs
    highest_usn: int  # highestCommittedUSN when the identity was read


class DirectoryCursor(BaseModel):
    """The point a delta read starts from; store it with the state it covers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    kind: Literal["dirsync", "usn"]
    server: str
    ds_service_name: str
    invocation_id: uuid.UUID
    naming_context: str
    scope: str
    highest_usn: int
    # Opaque to us; base64 in JSON.
    cookie: bytes | None = None

    @field_validator("cookie", mode="before")
    @classmethod
    def _from_base64(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error:
                raise ValueError("the cookie is not base64") from None
        return value

    @field_serializer("cookie")
    def _to_base64(self, value: bytes | None) -> str | None:
        return base64.b64encode(value).decode("ascii") if value is not None else None

    def to_json(self) -> str:
        """The cursor as JSON text (the cookie base64-encoded)."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> DirectoryCursor:
        """A cursor from `to_json` output; `DirectoryResyncRequired` if it cannot be read."""
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            raise DirectoryResyncRequired(
                "the stored directory cursor cannot be read", hint=_FULL_READ
            ) from None

    @classmethod
    def at(
        cls,
        identity: DcIdentity,
        *,
        kind: Literal["dirsync", "usn"],
        scope: str,
        cookie: bytes | None = None,
    ) -> DirectoryCursor:
        """A cursor at `identity.highest_usn` (and `cookie`, for DirSync)."""
        return cls(
            kind=kind,
            server=identity.server,
            ds_service_name=identity.ds_service_name,
            invocation_id=identity.invocation_id,
            naming_context=identity.naming_context,
            scope=scope,
            highest_usn=identity.highest_usn,
            cookie=cookie,
        )


def check_cursor(cursor: DirectoryCursor, identity: DcIdentity, *, kind: str, scope: str) -> None:
    """Raise `DirectoryRestored` or `DirectoryResyncRequired` unless `cursor` fits here."""
    if cursor.ds_service_name.lower() != identity.ds_service_name.lower():
        raise DirectoryResyncRequired(
            f"the directory cursor is from domain controller {cursor.server}, "
            f"but {identity.server} answered: its USNs and cookies mean nothing here",
            hint=_FULL_READ,
        )
    if cursor.invocation_id != identity.invocation_id:
        raise DirectoryRestored(
            f"domain controller {identity.server} was restored from a backup (its invocationId "
            f"changed from {cursor.invocation_id} to {identity.invocation_id}): "
            "changes since the cursor may be lost",
            hint=_FULL_READ,
        )
    if identity.highest_usn < cursor.highest_usn:
        # Files put back without a proper restore (a VM snapshot): a USN rollback.
        raise DirectoryRestored(
            f"domain controller {identity.server} was rolled back: its highest USN is "
            f"{identity.highest_usn}, below the cursor's {cursor.highest_usn}",
            hint=_FULL_READ + "; and check the DC itself: a rolled-back DC must be rebuilt",
        )
    if cursor.kind != kind:
        raise DirectoryResyncRequired(
            f"the directory cursor is a {cursor.kind} cursor, and delta is now {kind}",
            hint=_FULL_READ,
        )
    if cursor.scope != scope:
        raise DirectoryResyncRequired(
            "the base DNs or the filter changed since the directory cursor was taken",
            hint=_FULL_READ,
        )
    if kind == "dirsync" and not cursor.cookie:
        raise DirectoryResyncRequired("the DirSync cursor holds no cookie", hint=_FULL_READ)
