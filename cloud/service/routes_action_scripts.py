"""Admin API, scripts: admins approve scripts (kept with their SHA-256) and retire them.

An action may run only a script approved here, exactly as approved (no
parameters). Viewers read them; only admins approve or retire; both are
audited. Every handler scopes by `call.tenant_id`.
"""

from __future__ import annotations

from typing import Any

from cloud.contract.actions import ScriptCreate, ScriptDetail, ScriptOut, script_digest
from cloud.contract.admin import Role
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import ADMIN, audit, aware
from cloud.store import scripts as store

api = Api()
TAGS = ("actions",)


def script_out(row: Any) -> ScriptOut:
    """A stored script as admins see it (without its text)."""
    return ScriptOut(
        script_id=row["script_id"],
        name=row["name"],
        description=row["description"],
        sha256=row["sha256"],
        size=row["size"],
        approved_by=row["approved_by"],
        approved_at=aware(row["approved_at"]),
        retired_by=row["retired_by"],
        retired_at=aware(row["retired_at"]),
    )


def script_detail(row: Any) -> ScriptDetail:
    """A stored script with its text."""
    return ScriptDetail(**script_out(row).model_dump(), content=row["content"])


@api.route(
    "POST",
    "/api/v1/scripts",
    role=Role.ADMIN,
    body=ScriptCreate,
    response=ScriptDetail,
    status=201,
    tags=TAGS,
    **ADMIN,
)
async def approve_script(call: Call) -> ScriptDetail:
    """Approve a script: its text is kept with its SHA-256 and may be run by actions."""
    body: ScriptCreate = call.body
    caller = call.principal
    assert caller is not None
    digest = script_digest(body.content)
    if body.sha256 is not None and body.sha256 != digest:
        raise ApiError(
            "script_hash_mismatch",
            f"the text hashes to {digest}, not to the sha256 sent",
            target="sha256",
        )
    async with call.state.engine.begin() as conn:
        row = await store.create_script(
            conn,
            tenant_id=call.tenant_id,
            name=body.name,
            description=body.description,
            content=body.content,
            approved_by=caller.name,
            approved_by_id=caller.principal_id,
            now=call.state.clock(),
        )
        details = {"name": body.name, "sha256": digest}
        await audit(conn, call, "script.approved", row["script_id"], details)
    return script_detail(row)


@api.route(
    "GET",
    "/api/v1/scripts",
    role=Role.VIEWER,
    response=ScriptOut,
    list_response=True,
    tags=TAGS,
    **ADMIN,
)
async def list_scripts(call: Call) -> list[ScriptOut]:
    """The tenant's approved scripts (the newest 500), retired ones included, newest first."""
    async with call.state.engine.connect() as conn:
        rows = await store.list_scripts(conn, call.tenant_id)
    return [script_out(r) for r in rows]


async def _script(call: Call, conn: Any) -> Any:
    row = await store.get_script(conn, call.tenant_id, call.param("scriptId"))
    if row is None:
        raise ApiError("not_found", "no such script in this tenant")
    return row


@api.route(
    "GET", "/api/v1/scripts/{scriptId}", role=Role.VIEWER, response=ScriptDetail, tags=TAGS, **ADMIN
)
async def get_script(call: Call) -> ScriptDetail:
    """One approved script with its text and SHA-256."""
    async with call.state.engine.connect() as conn:
        return script_detail(await _script(call, conn))


@api.route(
    "POST",
    "/api/v1/scripts/{scriptId}/retire",
    role=Role.ADMIN,
    response=ScriptOut,
    tags=TAGS,
    **ADMIN,
)
async def retire_script(call: Call) -> ScriptOut:
    """Retire a script: no new action may run it, and its queued actions are cancelled.

    Retiring a retired script changes nothing and answers it as it is.
    """
    caller = call.principal
    assert caller is not None
    async with call.state.engine.begin() as conn:
        row = await _script(call, conn)
        if row["retired_at"] is None:
            cancelled = await store.retire_script(
                conn,
                call.tenant_id,
                row["script_id"],
                retired_by=caller.name,
                now=call.state.clock(),
            )
            details = {"name": row["name"], "cancelledActions": cancelled}
            await audit(conn, call, "script.retired", row["script_id"], details)
            row = await _script(call, conn)
    return script_out(row)
