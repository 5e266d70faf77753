"""The site's co-management side on the embedded site store (SQLite or PostgreSQL).

`EmbeddedSiteAuthority` implements `onprem.site_authority.SiteAuthority`
over the `cobridge_` tables of the embedded site (migration 0002): the
settings, the gate (`gate_rows`), the published flags and the authority log.

Published flags and reported flags are kept apart. DESIGN.md section 7 has
each device's authority published as the site's CoManagementFlags integer;
the site publishes it in `cobridge_published_flags` (1 plus the bits of the
workloads its gate does not hold), updated in the transaction that changes
the gate. `v_ClientCoManagementState.MDMWorkloads` stays what it is on a real
site: the value the device reports in inventory, which lags and may disagree.
Drift is exactly that disagreement (`onprem.authority.drift`), so the gate
never writes the reported value; the inventory (or the site generator, or a
test) does.

Every method goes through one chokepoint, `_errors`, where database failures
become `onprem.errors` (`SiteWriteFailed` for writes: nothing of the write was
applied).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from onprem.authority import gate_rows, reports, settings_rows
from onprem.authority.drift import find_drift
from onprem.authority.sql import from_db, to_db
from onprem.errors import SiteError, SiteReadFailed, SiteStoreNotMigrated, SiteWriteFailed
from onprem.site_authority import (
    DEFAULT_DRIFT_GRACE,
    SITE,
    Conflict,
    GateEntry,
    require_smsid,
)
from onprem.site_database import site_errors
from onprem.site_schema import cobridge_site_authority_log as log_table
from workloads.catalog import Workload
from workloads.gate import GateRecord
from workloads.invariant import DeliveryEvent, Event, GrantEvent, RevokeEvent
from workloads.messages import Command, Key, Op, Reply
from workloads.settings import CoManagementSettings

LOG_PAGE = 2000  # log rows per read while streaming events


class EmbeddedSiteAuthority:
    """The site's settings, gate, policy delivery and drift, on an embedded site store."""

    def __init__(self, engine: sa.Engine) -> None:
        if engine.dialect.name == "mssql":
            raise SiteError(
                "a SQL Server site database is read-only to cobridge",
                hint="a real site's co-management side is reached through its admin service",
            )
        self._engine = engine

    @contextlib.contextmanager
    def _errors(self, action: str, *, writing: bool = False) -> Iterator[None]:
        """The chokepoint: database failures during `action` become project errors."""
        try:
            with site_errors(self._engine, action):
                try:
                    yield
                except sa_exc.DBAPIError as exc:
                    if _missing_table(exc):
                        raise SiteStoreNotMigrated(
                            f"the embedded site store lacks cobridge's co-management tables "
                            f"(while {action}): {str(exc.orig).strip().splitlines()[0]}",
                            hint="upgrade its schema with onprem.site_store.migrate_site "
                            "(the demo and `cobridge onprem seed` do)",
                        ) from exc
                    raise
        except SiteReadFailed as exc:
            if not writing:
                raise
            raise SiteWriteFailed(
                exc.message, hint="nothing of this change was applied; it is safe to retry"
            ) from exc

    # Settings.

    def read_settings(self) -> CoManagementSettings:
        """The settings now; defaults (co-management off, every slider on the site) if never set."""
        with self._errors("reading co-management settings"), self._engine.connect() as conn:
            return settings_rows.read_settings(conn)

    def write_settings(
        self, settings: CoManagementSettings, *, changed_by: str, now: datetime
    ) -> None:
        """Store `settings`; the rows that change are stamped with `changed_by` and `now`."""
        action = "writing co-management settings"
        with self._errors(action, writing=True), self._engine.begin() as conn:
            settings_rows.write_settings(conn, settings, changed_by=changed_by, now=now)

    # The gate.

    def apply_commands(self, commands: Sequence[Command], *, now: datetime) -> list[Reply]:
        """Decide every command in order, in one transaction; one reply per command, in order."""
        for command in commands:
            require_smsid(command.device)
        if not commands:
            return []
        action = f"applying {len(commands)} grant/revoke command(s)"
        with self._errors(action, writing=True), self._engine.begin() as conn:
            return gate_rows.apply_commands(conn, commands, now)

    def grants(self, smsids: Sequence[str]) -> dict[Key, GateRecord]:
        """The record of every workload of every device named (the initial one if never commanded)."""
        for smsid in smsids:
            require_smsid(smsid)
        with self._errors("reading the site's grants"), self._engine.connect() as conn:
            return gate_rows.grants(conn, smsids)

    def gate_entries(self, smsids: Sequence[str] | None = None) -> list[GateEntry]:
        """The stored gate records with when each changed (all devices when `smsids` is None)."""
        with self._errors("reading the site's grants"), self._engine.connect() as conn:
            return gate_rows.stored_entries(conn, smsids)

    def published_flags(self, smsids: Sequence[str]) -> dict[str, int]:
        """The CoManagementFlags integer the site publishes, for the named devices it has one for."""
        with self._errors("reading published flags"), self._engine.connect() as conn:
            return gate_rows.published_flags(conn, smsids)

    # Policy delivery and the log.

    def deliver(self, smsid: str, now: datetime) -> dict[Workload, int]:
        """The workloads the site hands the device now, each with its grant's epoch; logged."""
        require_smsid(smsid)
        action = f"delivering policy to {smsid}"
        with self._errors(action, writing=True), self._engine.begin() as conn:
            return gate_rows.deliver(conn, smsid, now)

    def deliveries(self, since: datetime | None = None) -> Iterator[DeliveryEvent]:
        """Logged deliveries at or after `since`, oldest first."""
        for event in self._log(since, delivery_only=True):
            assert isinstance(event, DeliveryEvent)
            yield event

    def events(self, since: datetime | None = None) -> Iterator[Event]:
        """Grants and revokes the gate applied and deliveries made, at or after `since`, in order."""
        return self._log(since, delivery_only=False)

    def _log(self, since: datetime | None, *, delivery_only: bool) -> Iterator[Event]:
        order = (log_table.c.at, log_table.c.id)
        statement = sa.select(log_table).order_by(*order).limit(LOG_PAGE)
        if since is not None:
            statement = statement.where(log_table.c.at >= to_db(since))
        if delivery_only:
            statement = statement.where(log_table.c.kind == gate_rows.DELIVERY)
        after: tuple[datetime, int] | None = None
        while True:
            page = statement
            if after is not None:
                at, last = after
                page = statement.where(
                    sa.or_(
                        log_table.c.at > at, sa.and_(log_table.c.at == at, log_table.c.id > last)
                    )
                )
            with self._errors("reading the site's authority log"), self._engine.connect() as conn:
                rows = conn.execute(page).all()
            for row in rows:
                yield _event(row)
            if len(rows) < LOG_PAGE:
                return
            after = (rows[-1].at, rows[-1].id)

    # Drift.

    def reported_flags(self, smsids: Sequence[str] | None = None) -> dict[str, int]:
        """The MDMWorkloads integer each device reports (all devices when `smsids` is None)."""
        with self._errors("reading reported co-management flags"), self._engine.connect() as conn:
            return reports.reported_flags(conn, smsids)

    def conflicts(
        self,
        *,
        now: datetime,
        grace: timedelta = DEFAULT_DRIFT_GRACE,
        smsids: Sequence[str] | None = None,
    ) -> list[Conflict]:
        """Every disagreement between reports and the gate older than `grace` at `now`."""
        with self._errors("looking for co-management drift"), self._engine.connect() as conn:
            entries = gate_rows.stored_entries(conn, smsids, commanded_only=True)
            devices = sorted({entry.smsid for entry in entries})
            reported = reports.reported_flags(conn, devices) if devices else {}
        return find_drift(entries, reported, now=now, grace=grace)


def _missing_table(exc: sa_exc.DBAPIError) -> bool:
    # PostgreSQL's undefined_table; SQLite names it in the message.
    return getattr(exc.orig, "sqlstate", None) == "42P01" or "no such table" in str(exc.orig)


def _event(row: sa.Row) -> Event:
    workload, at = Workload(row.workload), from_db(row.at)
    if row.kind == gate_rows.DELIVERY:
        return DeliveryEvent(SITE, row.smsid, workload, int(row.epoch), at)
    command = GrantEvent if row.kind == Op.GRANT.value else RevokeEvent
    return command(SITE, row.smsid, workload, int(row.epoch), at)
