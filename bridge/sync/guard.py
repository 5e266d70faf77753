"""The delete guard (DESIGN.md section 6): which deletes go now and which wait for an admin.

Pure. Deletes exist only after a complete read; held ones stay held until an
admin releases them or their devices come back, whatever later cycles count.
The guard trips when a cycle would delete more than `count_limit` devices, or
more than `percent_limit` percent of what the tenant holds of the hierarchy;
then every new delete of the cycle is held beside the ones already held.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DeleteDecision:
    """What a cycle does with its deletes, each list sorted."""

    send: list[str]  # tombstones to send now (within the guard, or released)
    hold: list[str]  # new holds
    applied: list[str]  # released deletes sent now (a subset of `send`)
    returned: list[str]  # released deletes whose devices came back: never sent
    discard: list[str]  # held deletes whose devices came back: holds end
    would_delete: int  # what the guard weighed: new and still-held deletes
    tripped: bool


NOTHING = DeleteDecision([], [], [], [], [], 0, False)


def guard_trips(would_delete: int, holdings: int, count_limit: int, percent_limit: float) -> bool:
    """Whether deleting `would_delete` of `holdings` devices needs an admin's release."""
    if would_delete == 0:
        return False
    if would_delete > count_limit:
        return True
    return holdings > 0 and would_delete * 100 > percent_limit * holdings


def decide_deletes(
    deletes: Iterable[str],
    *,
    complete: bool,
    held: Iterable[str],
    released: Iterable[str],
    holdings: int,
    count_limit: int,
    percent_limit: float,
) -> DeleteDecision:
    """Decide a cycle's deletes; an incomplete read decides nothing at all."""
    if not complete:
        return NOTHING
    gone, held_set, released_set = set(deletes), set(held), set(released)
    new = gone - held_set - released_set
    still_held = gone & held_set
    would = len(new) + len(still_held)
    tripped = guard_trips(would, holdings, count_limit, percent_limit)
    applied = gone & released_set
    send = applied if tripped else applied | new
    return DeleteDecision(
        send=sorted(send),
        hold=sorted(new) if tripped else [],
        applied=sorted(applied),
        returned=sorted(released_set - gone),
        discard=sorted(held_set - gone),
        would_delete=would,
        tripped=tripped,
    )
