"""What devices report about co-management: the MDMWorkloads integer of the site's inventory.

`v_ClientCoManagementState.MDMWorkloads` is the device-reported value (what
the device's agent says it applies from where); it is never written by the
gate. It is keyed by ResourceID; the SMSID comes from `v_R_System`, whose
values may be in any case, with braces or padding, so they are matched in
their canonical form. When several records share an SMSID (dirty data: a
re-imaged or cloned machine), the live record with the highest ResourceID
that has a report wins over obsolete and decommissioned ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from onprem.site_schema import v_ClientCoManagementState as state
from onprem.site_schema import v_R_System as system

_WHITESPACE = " \t\r\n\x0b\x0c\u00a0"


def canonical_smsid(raw: object) -> str | None:
    """`GUID:` and the upper-case GUID of a site's SMSID value, or None if it is not one."""
    if not isinstance(raw, str):
        return None
    text = raw.strip(_WHITESPACE)
    if text[:5].upper() != "GUID:":
        return None
    try:
        return "GUID:" + str(uuid.UUID(text[5:].strip(_WHITESPACE).strip("{}"))).upper()
    except ValueError:
        return None


def reported_flags(conn: sa.Connection, smsids: Sequence[str] | None) -> dict[str, int]:
    """SMSID -> reported MDMWorkloads, for `smsids` (every device reporting when None)."""
    wanted = None if smsids is None else set(smsids)
    live = sa.and_(
        sa.func.coalesce(system.c.Obsolete0, 0) == 0,
        sa.func.coalesce(system.c.Decommissioned0, 0) == 0,
    )
    statement = (
        sa.select(system.c.SMS_Unique_Identifier0, state.c.MDMWorkloads)
        .join(state, state.c.ResourceID == system.c.ResourceID)
        .where(state.c.MDMWorkloads.is_not(None))
        # Best last: live records after dead ones, then by ResourceID.
        .order_by(sa.case((live, 1), else_=0), system.c.ResourceID, state.c.MDMWorkloads)
    )
    found: dict[str, int] = {}
    for raw, flags in conn.execution_options(yield_per=5000).execute(statement):
        smsid = canonical_smsid(raw)
        if smsid is not None and (wanted is None or smsid in wanted):
            found[smsid] = int(flags)
    return found
