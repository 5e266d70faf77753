"""Reading authority: per device, per workload across the tenant, and the Graph-style features.

Drift the service sees itself (`gate_conflict`): the arbiter's settled record
and the cloud gate disagree. Only settled (`held`) records are compared, and
only when the gate has not moved past the record's epoch (a report lags the
gate by one round trip: a gate ahead of it is a handoff under way, not drift).
`workload_counts` applies the same rule in SQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.contract.authority_views import (
    ClientEnabledFeatures,
    CloudGrantOut,
    DeviceAuthorityOut,
    HolderCounts,
    WorkloadAuthorityOut,
    WorkloadCountOut,
    WorkloadCountsOut,
)
from cloud.store.authority import gate_records
from cloud.store.device_view import aware_utc
from cloud.store.schema import authority_gate, authority_states, devices, hierarchies
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.gate import GateRecord, initial_gate_record
from workloads.handoff import Phase

HOLDS_FOR_SITE = "cloud_gate_holds_for_site"
LACKS_GRANT = "cloud_gate_lacks_grant"


def gate_conflict(state: Any, gate: GateRecord) -> str | None:
    """The disagreement between a reported record (a row, or None) and the cloud gate, if any."""
    if state is None or state["phase"] != Phase.HELD.value or gate.epoch > state["epoch"]:
        return None
    if state["holder"] == Holder.CONFIGMGR.value and gate.holds:
        return HOLDS_FOR_SITE
    if state["holder"] == Holder.CLOUD.value and not (gate.holds and gate.epoch == state["epoch"]):
        return LACKS_GRANT
    return None


def _workload_out(workload: Workload, state: Any, gate: GateRecord, gate_at: Any) -> Any:
    return WorkloadAuthorityOut(
        workload=workload,
        display_name=workload.display_name,
        flag_bit=workload.flag,
        holder=state["holder"] if state else None,
        epoch=state["epoch"] if state else None,
        phase=state["phase"] if state else None,
        target=state["target"] if state else None,
        desired=state["desired"] if state else None,
        cloud_grant=CloudGrantOut(
            epoch=gate.epoch, holds=gate.holds, updated_at=aware_utc(gate_at)
        ),
        conflict=state["conflict"] if state else None,
        gate_conflict=gate_conflict(state, gate),
        updated_at=aware_utc(state["updated_at"]) if state else None,
        reported_at=aware_utc(state["received_at"]) if state else None,
    )


async def _states(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, smsid: str
) -> dict[Workload, Any]:
    s = authority_states.c
    stmt = sa.select(authority_states).where(
        s.tenant_id == tenant_id, s.hierarchy_id == hierarchy_id, s.smsid == smsid
    )
    return {Workload(r["workload"]): r for r in (await conn.execute(stmt)).mappings()}


async def device_authority(
    conn: AsyncConnection, tenant_id: str, device_id: str
) -> DeviceAuthorityOut | None:
    """Each workload's reported record and cloud grant for one device; None if not the tenant's."""
    if "\x00" in device_id:
        return None  # no stored id holds one, and PostgreSQL refuses to compare it
    stmt = sa.select(devices.c.hierarchy_id, devices.c.smsid).where(
        devices.c.tenant_id == tenant_id,
        devices.c.device_id == device_id,
        devices.c.deleted_at.is_(None),
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    hierarchy_id, smsid = row
    states: dict[Workload, Any] = {}
    gates: dict[Any, Any] = {}
    if hierarchy_id is not None and smsid is not None:
        states = await _states(conn, tenant_id, hierarchy_id, smsid)
        gates = await gate_records(conn, tenant_id, hierarchy_id, [smsid])
    initial = (initial_gate_record(Holder.CLOUD), None)
    value = [
        _workload_out(w, states.get(w), *gates.get((smsid, w), initial)) for w in ALL_WORKLOADS
    ]
    return DeviceAuthorityOut(
        device_id=device_id, hierarchy_id=hierarchy_id, smsid=smsid, value=value
    )


async def enabled_features(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, smsid: str
) -> ClientEnabledFeatures:
    """Graph's configurationManagerClientEnabledFeatures: the workloads settled on the cloud."""
    states = await _states(conn, tenant_id, hierarchy_id, smsid)
    return ClientEnabledFeatures.of(
        {
            w
            for w, s in states.items()
            if s["phase"] == Phase.HELD.value and s["holder"] == Holder.CLOUD.value
        }
    )


def _live(table: sa.Table) -> sa.Join:
    # Only hierarchies still attached: a detached one's records are history.
    return sa.join(
        table,
        hierarchies,
        sa.and_(
            hierarchies.c.tenant_id == table.c.tenant_id,
            hierarchies.c.hierarchy_id == table.c.hierarchy_id,
            hierarchies.c.detached_at.is_(None),
        ),
    )


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


async def workload_counts(conn: AsyncConnection, tenant_id: str) -> WorkloadCountsOut:
    """Per workload: reported records settled on each side or in a handoff, conflicts, grants."""
    s, g = authority_states.c, authority_gate.c
    held = s.phase == Phase.HELD.value
    gate_epoch = sa.func.coalesce(g.epoch, 0)
    gate_holds = sa.func.coalesce(g.holds, sa.false()) == sa.true()
    drift = sa.and_(
        held,
        gate_epoch <= s.epoch,
        sa.or_(
            sa.and_(s.holder == Holder.CONFIGMGR.value, gate_holds),
            sa.and_(
                s.holder == Holder.CLOUD.value, sa.not_(sa.and_(gate_holds, gate_epoch == s.epoch))
            ),
        ),
    )
    joined = _live(authority_states).join(
        authority_gate,
        sa.and_(
            g.tenant_id == s.tenant_id,
            g.hierarchy_id == s.hierarchy_id,
            g.smsid == s.smsid,
            g.workload == s.workload,
        ),
        isouter=True,
    )
    stmt = (
        sa.select(
            s.workload,
            _count(sa.and_(held, s.holder == Holder.CONFIGMGR.value)),
            _count(sa.and_(held, s.holder == Holder.CLOUD.value)),
            _count(sa.not_(held)),
            _count(sa.or_(s.conflict.is_not(None), drift)),
            sa.func.max(s.received_at),
        )
        .select_from(joined)
        .where(s.tenant_id == tenant_id)
        .group_by(s.workload)
    )
    reported = {r[0]: r[1:] for r in (await conn.execute(stmt)).all()}
    grants = sa.select(g.workload, sa.func.count()).select_from(_live(authority_gate))
    grants = grants.where(g.tenant_id == tenant_id, g.holds == sa.true()).group_by(g.workload)
    granted = dict((await conn.execute(grants)).all())
    value = []
    for w in ALL_WORKLOADS:
        configmgr, cloud, handoff, conflicts, at = reported.get(w.value, (0, 0, 0, 0, None))
        value.append(
            WorkloadCountOut(
                workload=w,
                display_name=w.display_name,
                flag_bit=w.flag,
                counts=HolderCounts(
                    configmgr=int(configmgr), cloud=int(cloud), in_handoff=int(handoff)
                ),
                conflicts=int(conflicts),
                cloud_grants=int(granted.get(w.value, 0)),
                reported_at=aware_utc(at),
            )
        )
    return WorkloadCountsOut(value=value)
