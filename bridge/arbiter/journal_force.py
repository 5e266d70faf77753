"""Forcing a stalled handoff, in the journal: what `cobridge workloads force` does.

The forced record is saved only if the journal still holds the record it was
derived from (the running arbiter may have moved it meanwhile), with an
audit event naming who forced it and why. The running connector sends its
commands (the grant, and the revoke that keeps fencing the side assumed
stopped) on its next pass, as for any record in flight.
"""

from __future__ import annotations

from datetime import datetime

from bridge.arbiter.ports import JournalStore
from bridge.state.authority import AuthorityEvent
from workloads.catalog import Workload
from workloads.errors import InvalidTransition
from workloads.handoff import Forced, force, initial_record


def force_in_journal(
    state: JournalStore, smsid: str, workload: Workload, *, reason: str, by: str, now: datetime
) -> Forced:
    """Force the (smsid, workload) handoff stalled in revoking; the audit event's content."""
    key = (smsid, Workload(workload))
    with state.transaction() as tx:
        entry = tx.authority.entries([smsid]).get(key)
        record = entry.record if entry else initial_record(*key)
        step = force(record, reason)  # refuses anything but a revoking record
        assert step.forced is not None
        if not tx.authority.replace(entry, step.record, now=now):
            raise InvalidTransition(
                f"the handoff of {smsid}/{key[1].value} moved while it was being forced",
                hint="look at `cobridge workloads show` and force again if it is still stalled",
            )
        detail = {
            "by": by,
            "reason": step.forced.reason,
            "assumedRevoked": step.forced.side.value,
            "target": step.forced.target.value,
        }
        tx.authority_events.append(
            [AuthorityEvent(smsid, key[1], "forced", record.epoch, detail)], now=now
        )
    return step.forced
