"""The connector's state as its consumers take it: one small Protocol per repository.

A consumer takes the repository it uses (`Quarantine`, `Lease`, ...) where
every call is a transaction of its own. Where steps on several repositories
must commit together, it takes a Protocol of its own composed from these
(`WithAudit`, `WithSources`, ...) and a `transaction()` yielding the same
repositories bound to one transaction; `ConnectorState` and
`StateTransaction` (`bridge.state.store`) satisfy every one of them, so the
composition roots pass the one `ConnectorState` they open.
"""

from __future__ import annotations

from typing import Protocol

from bridge.state.actions import ActionRuns
from bridge.state.audit import AuditLog
from bridge.state.authority import AuthorityEvents, AuthorityJournal
from bridge.state.deletes import HeldDeletes
from bridge.state.devices import DeviceStates
from bridge.state.directory import DirectoryComputers
from bridge.state.lease import Lease
from bridge.state.outbox import Outbox, Sequencer
from bridge.state.quarantine import Quarantine
from bridge.state.rollouts import Rollouts
from bridge.state.runs import SyncRuns
from bridge.state.sources import SourceCursors


class WithSources(Protocol):
    """A store with `sources`: where each source's last complete read left off."""

    @property
    def sources(self) -> SourceCursors:
        """Where each source's last complete read left off."""
        ...


class WithDevices(Protocol):
    """A store with `devices`: the devices the tenant acknowledged."""

    @property
    def devices(self) -> DeviceStates:
        """The devices the tenant acknowledged."""
        ...


class WithSequences(Protocol):
    """A store with `sequences`: batch sequence numbers."""

    @property
    def sequences(self) -> Sequencer:
        """Batch sequence numbers."""
        ...


class WithOutbox(Protocol):
    """A store with `outbox`: batches persisted before they are sent."""

    @property
    def outbox(self) -> Outbox:
        """Batches persisted before they are sent."""
        ...


class WithQuarantine(Protocol):
    """A store with `quarantine`: records refused by the site read, the identity resolver or the tenant."""

    @property
    def quarantine(self) -> Quarantine:
        """Records refused by the site read, the identity resolver or the tenant."""
        ...


class WithDeletes(Protocol):
    """A store with `deletes`: deletes the guard holds until an admin releases them."""

    @property
    def deletes(self) -> HeldDeletes:
        """Deletes the guard holds until an admin releases them."""
        ...


class WithRuns(Protocol):
    """A store with `runs`: the record of each sync run."""

    @property
    def runs(self) -> SyncRuns:
        """The record of each sync run."""
        ...


class WithLease(Protocol):
    """A store with `lease`: the uploader lease."""

    @property
    def lease(self) -> Lease:
        """The uploader lease."""
        ...


class WithAuthority(Protocol):
    """A store with `authority`: the arbiter's journal of every (device, workload)."""

    @property
    def authority(self) -> AuthorityJournal:
        """The arbiter's journal of every (device, workload)."""
        ...


class WithAuthorityEvents(Protocol):
    """A store with `authority_events`: the arbiter's log of handoff events."""

    @property
    def authority_events(self) -> AuthorityEvents:
        """The arbiter's log of handoff events."""
        ...


class WithDirectory(Protocol):
    """A store with `directory`: the directory's computers and their matches."""

    @property
    def directory(self) -> DirectoryComputers:
        """The directory's computers and their matches."""
        ...


class WithAudit(Protocol):
    """A store with `audit`: the audit chain and its signers."""

    @property
    def audit(self) -> AuditLog:
        """The audit chain and its signers."""
        ...


class WithActions(Protocol):
    """A store with `actions`: the journal of device actions."""

    @property
    def actions(self) -> ActionRuns:
        """The journal of device actions."""
        ...


class WithRollouts(Protocol):
    """A store with `rollouts`: rollouts, the active one and those that ended."""

    @property
    def rollouts(self) -> Rollouts:
        """Rollouts, the active one and those that ended."""
        ...
