"""The port to the site's co-management side: its settings, its gate, its policy delivery.

DESIGN.md section 7. The site owns the co-management settings; the bridge
reads them and writes changes back through this port. The site's gate keeps,
per (device, workload), the last grant or revoke it applied (a
`workloads.gate.GateRecord`), decides every command with `workloads.gate.decide`
(fencing by epoch), and its policy delivery hands a device only the workloads
the gate holds. Drift is a device reporting, in the site's inventory, that it
takes a workload from a side other than the one the site's gate implies (see
`onprem.authority.drift` for the rule).

Devices are keyed by their client GUID, the SMSID `GUID:XXXXXXXX-XXXX-...` in
the canonical upper-case form the site reader hands out. The gate accepts
devices the site's inventory does not list (yet): a device is known to the
gate by being commanded.

Times passed in may be aware or naive (naive is taken as UTC); times handed
out are aware, in UTC.

The embedded site implements every protocol here (`onprem.authority.embedded`).
A real site's adapter would implement them over the site's REST admin service.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from onprem.errors import InvalidSmsId
from workloads.catalog import Holder, Workload
from workloads.gate import GateRecord
from workloads.invariant import DeliveryEvent, Event
from workloads.messages import Command, Key, Reply
from workloads.settings import CoManagementSettings

SITE = Holder.CONFIGMGR

# Reports lag: a device reports its co-management state with its policy cycle
# (every 60 minutes by default), so a disagreement younger than two cycles is
# not yet drift.
DEFAULT_DRIFT_GRACE = timedelta(hours=2)


def as_utc(moment: datetime) -> datetime:
    """`moment` aware in UTC (a naive time is taken as UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def require_smsid(value: str) -> str:
    """`value` if it is a canonical SMSID (`GUID:` and an upper-case GUID); else InvalidSmsId."""
    body = value[5:] if isinstance(value, str) and value.startswith("GUID:") else None
    try:
        canonical = body is not None and str(uuid.UUID(body)).upper() == body
    except ValueError:
        canonical = False
    if not canonical:
        raise InvalidSmsId(
            f"{value!r} is not a device's client GUID (SMSID)",
            hint="key devices as the site reader does: GUID:XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
        )
    return value


@dataclass(frozen=True, slots=True)
class GateEntry:
    """A gate record the site has stored, with when it last changed."""

    smsid: str
    workload: Workload
    record: GateRecord
    updated_at: datetime

    @property
    def key(self) -> Key:
        """(smsid, workload)."""
        return (self.smsid, self.workload)


class ConflictKind(StrEnum):
    """How a device's report disagrees with the site's gate."""

    # The device applies the workload from the cloud while the site's gate holds it.
    CLOUD_WHILE_SITE_HOLDS = "cloud_while_site_holds"
    # The device still applies the workload from the site, which revoked it.
    SITE_AFTER_REVOKE = "site_after_revoke"


@dataclass(frozen=True, slots=True)
class Conflict:
    """Drift: what the device reported, against what the site's gate holds and since when."""

    smsid: str
    workload: Workload
    kind: ConflictKind
    reported_flags: int
    reported_cloud: bool  # the device reports the cloud applies the workload
    site_holds: bool
    epoch: int
    since: datetime  # when the gate record took its current value

    @property
    def key(self) -> Key:
        """(smsid, workload)."""
        return (self.smsid, self.workload)

    def observed_delivery(self, at: datetime) -> DeliveryEvent:
        """The conflict as the invariant checker takes it: an observed, ungated delivery."""
        side = Holder.CLOUD if self.reported_cloud else Holder.CONFIGMGR
        return DeliveryEvent(
            side=side, device=self.smsid, workload=self.workload, epoch=None, at=at
        )


class CoManagementSettingsStore(Protocol):
    """The site's co-management settings: read them, write a change back."""

    def read_settings(self) -> CoManagementSettings:
        """The settings now; defaults (co-management off, every slider on the site) if never set."""
        ...

    def write_settings(
        self, settings: CoManagementSettings, *, changed_by: str, now: datetime
    ) -> None:
        """Store `settings`; what changed is stamped with `changed_by` and `now`."""
        ...


class SiteGate(Protocol):
    """The site's gate: fenced grants and revokes, and the flags the site publishes from them."""

    def apply_commands(self, commands: Sequence[Command], *, now: datetime) -> list[Reply]:
        """Decide every command in order, in one transaction; one reply per command, in order."""
        ...

    def grants(self, smsids: Sequence[str]) -> dict[Key, GateRecord]:
        """The record of every workload of every device named (the initial one if never commanded)."""
        ...

    def published_flags(self, smsids: Sequence[str]) -> dict[str, int]:
        """The CoManagementFlags integer the site publishes, for the named devices it has one for."""
        ...


class SitePolicyDelivery(Protocol):
    """The site's policy delivery, gated, and the log of what it delivered."""

    def deliver(self, smsid: str, now: datetime) -> dict[Workload, int]:
        """The workloads the site hands the device now, each with its grant's epoch; logged."""
        ...

    def deliveries(self, since: datetime | None = None) -> Iterator[DeliveryEvent]:
        """Logged deliveries at or after `since`, oldest first."""
        ...


class SiteAuthorityLog(Protocol):
    """Everything the site's side did, as the invariant checker replays it."""

    def events(self, since: datetime | None = None) -> Iterator[Event]:
        """Grants and revokes the gate applied and deliveries made, at or after `since`, in order."""
        ...


class SiteDrift(Protocol):
    """What devices report about co-management, and where it disagrees with the gate."""

    def reported_flags(self, smsids: Sequence[str] | None = None) -> dict[str, int]:
        """The MDMWorkloads integer each device reports (all devices when `smsids` is None)."""
        ...

    def conflicts(
        self,
        *,
        now: datetime,
        grace: timedelta = DEFAULT_DRIFT_GRACE,
        smsids: Sequence[str] | None = None,
    ) -> list[Conflict]:
        """Every disagreement between reports and the gate older than `grace` at `now`."""
        ...


class SiteAuthority(
    CoManagementSettingsStore, SiteGate, SitePolicyDelivery, SiteAuthorityLog, SiteDrift, Protocol
):
    """Everything the arbiter asks of the site's co-management side."""
