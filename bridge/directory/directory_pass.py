"""One directory pass: read AD (full or delta), match with the site, store it all at once.

A full read runs when no directory cursor is stored or the stored one cannot
be used (`DirectoryResyncRequired`: another DC, a restored DC, a changed
scope); otherwise a delta. The site's records are read before the state
transaction opens (no I/O but the state store inside it). Then one
transaction stores the computers, their matches and the cursor with the DC's
identity (DESIGN.md 6), so a crash leaves either all of it or none.

A failure (bind refused, DC unreachable, a base DN missing, an empty read)
is logged and recorded as a failed pass and changes nothing else: an AD
object is only ever marked deleted from a delta's tombstones or a complete,
successful full read, and even then its row stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from bridge.directory.matching import SiteCandidate, SiteIndex, match_all
from bridge.directory.quarantine import SOURCE, quarantine_pass
from bridge.settings_directory import DirectorySettings
from bridge.state.ports import WithDirectory, WithSources
from onprem.directory import DirectoryCursor, DirectoryReader, DirectoryRecord, DirectoryReject
from onprem.errors import DirectoryResyncRequired
from onprem.site_schema import v_R_System
from workloads.errors import CobridgeError

log = logging.getLogger("cobridge.connector")

_SITE_CHUNK = 1000


@dataclass
class DirectoryPassReport:
    """How one pass went: kind (full/delta), outcome (ok/failed), counts, error."""

    kind: str
    outcome: str
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def dc_instance_id(cursor: DirectoryCursor) -> str:
    """The DC's identity a cursor belongs to: its NTDS Settings DN and invocationId."""
    return f"{cursor.ds_service_name}|{cursor.invocation_id}"


def site_candidates(site: sa.Engine) -> Iterator[SiteCandidate]:
    """The site's system records, only the columns matching needs, streamed."""
    r = v_R_System.c
    stmt = sa.select(
        r.SMS_Unique_Identifier0,
        r.Distinguished_Name0,
        r.Netbios_Name0,
        r.Name0,
        r.Resource_Domain_OR_Workgr0,
        r.Obsolete0,
        r.Decommissioned0,
        r.Client0,
        r.Active0,
    ).where(r.ResourceType == 5, r.SMS_Unique_Identifier0.is_not(None))
    with site.connect() as conn:
        for part in conn.execute(stmt).partitions(_SITE_CHUNK):
            for smsid, dn, netbios, name, domain, obsolete, decom, client, active in part:
                yield SiteCandidate(
                    smsid=smsid,
                    dn=dn,
                    netbios_name=netbios or name,
                    domain=domain,
                    live=not obsolete and not decom,
                    reporting=bool(client) and bool(active),
                )


class DirectoryTransaction(WithDirectory, WithSources, Protocol):
    """A pass's merge and its cursor, inside one transaction."""


class DirectoryStore(WithDirectory, WithSources, Protocol):
    """The directory's computers and cursor; a pass merges and checkpoints in one transaction."""

    def transaction(self) -> AbstractContextManager[DirectoryTransaction]:
        """One transaction: committed on success, rolled back on error."""
        ...


class DirectoryPass:
    """Reads the directory and merges it into the connector's state; `run()` once per cycle."""

    def __init__(
        self,
        reader: DirectoryReader,
        site: sa.Engine,
        state: DirectoryStore,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.reader = reader
        self.site = site
        self.state = state
        self.clock = clock

    def run(self) -> DirectoryPassReport:
        """One pass; a failure is recorded and returned, never raised (for `CobridgeError`)."""
        stored = self.state.sources.get(SOURCE)
        kind = "delta" if stored is not None and stored.cursor else "full"
        try:
            return self._run(kind, stored.cursor if stored else None)
        except CobridgeError as exc:
            log.warning("directory pass (%s) failed; nothing changed: %s", kind, exc)
            report = DirectoryPassReport(kind, "failed", error=str(exc))
            self.state.directory.record_pass(kind, "failed", now=self.clock(), error=str(exc))
            return report

    def _run(self, kind: str, cursor_text: str | None) -> DirectoryPassReport:
        changed: list[DirectoryRecord] = []
        gone: list[str] = []
        rejects: list[DirectoryReject] = []
        full_guids: set[str] | None = None
        if kind == "delta" and cursor_text is not None:
            try:
                delta = self.reader.read_delta(DirectoryCursor.from_json(cursor_text))
            except DirectoryResyncRequired as exc:
                log.warning("directory delta not possible, running a full read: %s", exc)
                kind = "full"
            else:
                changed, rejects, cursor = delta.changed, delta.rejects, delta.cursor
                gone = [str(t.object_guid) for t in delta.deleted]
                gone += [str(g) for g in delta.left_scope]
        if kind == "full":
            read = self.reader.read_full()
            items = list(read)
            changed = [i for i in items if isinstance(i, DirectoryRecord)]
            rejects = [i for i in items if isinstance(i, DirectoryReject)]
            cursor = read.cursor
            # A rejected object is still there: only what the read lacks is gone.
            full_guids = {str(i.object_guid) for i in items if i.object_guid is not None}
        index = SiteIndex(site_candidates(self.site))
        now = self.clock()
        with self.state.transaction() as tx:
            if full_guids is not None:
                # A complete, successful full read: what it lacks is gone from scope.
                gone = sorted(tx.directory.live_guids() - full_guids)
            applied = tx.directory.apply(changed, now=now)
            deleted = tx.directory.mark_deleted(gone, now=now)
            computers = tx.directory.all()
            matches = match_all(computers, index)
            # Only what changed is written: most computers keep their match.
            tx.directory.set_matches(
                {
                    c.object_guid: matches[c.object_guid]
                    for c in computers
                    if matches[c.object_guid].differs(c)
                }
            )
            seen = [*(str(r.object_guid) for r in changed), *gone]
            quarantine_pass(
                tx,
                rejects=rejects,
                computers=computers,
                matches=matches,
                seen=seen,
                full=full_guids is not None,
                now=now,
            )
            tx.sources.save(SOURCE, dc_instance_id(cursor), cursor.to_json(), now=now)
            counts = tx.directory.counts() | {
                "applied": applied,
                "deleted": deleted,
                "rejects": len(rejects),
            }
            tx.directory.record_pass(kind, "ok", now=now, counts=counts)
        log.info("directory pass (%s): ok", kind, extra=counts)
        return DirectoryPassReport(kind, "ok", counts)


async def run_directory_pass(directory: DirectoryPass) -> DirectoryPassReport:
    """One pass off the event loop (the runner's hook)."""
    return await asyncio.to_thread(directory.run)


def build_directory_pass(
    settings: DirectorySettings,
    site: sa.Engine,
    state: DirectoryStore,
    *,
    clock: Callable[[], datetime],
) -> DirectoryPass | None:
    """The pass for an enabled `[directory]` section, else None."""
    if not settings.enabled:
        return None
    return DirectoryPass(DirectoryReader(settings.config()), site, state, clock=clock)
