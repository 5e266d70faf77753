"""Wiring of the arbiter and the rollout orders into the running connector, and one pass's safety net.

Arbitration needs the site's co-management side (`bridge.runtime.site`).
The embedded site store has it; a real SQL Server site's would be its admin
service, which is not built yet, so there the connector syncs and reports
inventory but does not arbitrate, and says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bridge.arbiter.arbiter import Arbiter
from bridge.arbiter.cycle import ArbitrationPass, ArbitrationReport
from bridge.arbiter.sides import CloudSide, SiteSide
from bridge.audit import load_signer
from bridge.rollout import RolloutDriver, RolloutEngine
from bridge.rollout.remote import RolloutOrders
from bridge.runtime.site import site_authority
from bridge.state import ConnectorState
from bridge.sync.ports import InventoryReader
from bridge.tenant.connector import ConnectorClient
from onprem.errors import SiteError
from workloads.catalog import Holder
from workloads.errors import CobridgeError

log = logging.getLogger("cobridge.connector")


def build_arbitration(
    site_engine: sa.Engine,
    reader: InventoryReader,
    state: ConnectorState,
    client: ConnectorClient,
    *,
    clock: Callable[[], datetime],
    data_dir: Path | None = None,
) -> ArbitrationPass | None:
    """The arbitration pass for this site, or None (logged) when the site has no co-management side.

    With `data_dir` (where the audit key is), the pass also runs the active
    rollout (`bridge.rollout`).
    """
    try:
        site = site_authority(site_engine)
    except SiteError as exc:
        log.warning("co-management arbitration is off for this site: %s", exc.message)
        return None
    sides = {Holder.CONFIGMGR: SiteSide(site, clock=clock), Holder.CLOUD: CloudSide(client)}
    arbiter = Arbiter(state, sides, clock=clock)
    rollouts = None
    if data_dir is not None:
        audit_dir = data_dir
        engine = RolloutEngine(state, site, lambda: load_signer(audit_dir), clock=clock)
        rollouts = RolloutDriver(engine)
    return ArbitrationPass(reader, site, arbiter, state, client, clock=clock, rollouts=rollouts)


def build_rollout_orders(
    site_engine: sa.Engine,
    reader: InventoryReader,
    state: ConnectorState,
    client: ConnectorClient,
    *,
    clock: Callable[[], datetime],
    data_dir: Path,
    instance: str,
) -> RolloutOrders | None:
    """The order runner for this site, or None when the site has no co-management side."""
    try:
        site = site_authority(site_engine)
    except SiteError as exc:
        logging.getLogger("cobridge.rollout").info(
            "rollout orders are off for this site: %s", exc.message
        )
        return None
    engine = RolloutEngine(state, site, lambda: load_signer(data_dir), clock=clock)
    return RolloutOrders(state, engine, reader, client, instance=instance, clock=clock)


async def arbitrate(arbitration: ArbitrationPass) -> ArbitrationReport | None:
    """One pass; an expected failure is logged and the next pass tries again."""
    try:
        return await arbitration.run()
    except CobridgeError as exc:
        log.warning("arbitration pass failed (next pass retries): %s", exc)
        return None
