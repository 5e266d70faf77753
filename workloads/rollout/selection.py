"""Stable wave selection: which wave a device belongs to, the same on every plan.

A device's *point* is the first 8 bytes of sha256(salt, NUL, SMSID), as an
integer in [0, 2**64); its *bucket* maps the point to [0, 10000) basis
points. A percentage wave holds the devices whose bucket is below its
cumulative threshold; a collection wave holds the members of its collections.
A device belongs to the first wave that holds it, and to the final stage
(`len(waves) + 1`) when none does. So:

- re-planning with the same salt picks the same devices (the hash depends on
  the salt and the SMSID only, not on the order or size of the fleet);
- raising a wave's percentage only adds devices to it (from later stages);
- a percentage is a share of whatever population is counted (eligible or
  co-managed devices alike), up to sampling noise, since the points are
  uniform.

SMSIDs are compared stripped and upper-cased, as the site's GUIDs may come in
either case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from workloads.rollout.document import BASIS_POINTS, Wave

POINT_BITS = 64


def device_point(salt: str, smsid: str) -> int:
    """The device's stable position in [0, 2**64) for this salt."""
    digest = hashlib.sha256(f"{salt}\x00{smsid.strip().upper()}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def bucket_of_point(point: int) -> int:
    """The basis-point bucket [0, 10000) of a point."""
    return (point * BASIS_POINTS) >> POINT_BITS


def device_bucket(salt: str, smsid: str) -> int:
    """The device's stable bucket in [0, 10000) basis points for this salt."""
    return bucket_of_point(device_point(salt, smsid))


class WaveSelector:
    """Assigns devices to the waves of one rollout (numbered from 1; the rest to the final stage)."""

    __slots__ = ("_kinds", "final_stage", "salt")

    def __init__(self, waves: Sequence[Wave], salt: str) -> None:
        self.salt = salt
        self.final_stage = len(waves) + 1
        # Per wave: its collections (a set) or its threshold in basis points.
        self._kinds: tuple[frozenset[str] | int, ...] = tuple(
            frozenset(wave.collections) if wave.collections is not None else _points(wave)
            for wave in waves
        )

    def point(self, smsid: str) -> int:
        """The device's stable position for this rollout's salt."""
        return device_point(self.salt, smsid)

    def wave_of(self, smsid: str, collection_ids: frozenset[str]) -> int:
        """The stage the device belongs to: its first wave, else the final stage."""
        return self.wave_of_point(self.point(smsid), collection_ids)

    def wave_of_point(self, point: int, collection_ids: frozenset[str]) -> int:
        """`wave_of` for a point already computed (the planner hashes each device once)."""
        bucket = bucket_of_point(point)
        for number, kind in enumerate(self._kinds, start=1):
            if isinstance(kind, int):
                if bucket < kind:
                    return number
            elif not kind.isdisjoint(collection_ids):
                return number
        return self.final_stage

    def admitted(self, smsid: str, collection_ids: frozenset[str], through: int) -> bool:
        """Whether the device's stage is at most `through` (0: nobody; the final stage: all)."""
        if through <= 0:
            return False
        if through >= self.final_stage:
            return True
        return self.wave_of(smsid, collection_ids) <= through


def _points(wave: Wave) -> int:
    points = wave.basis_points
    assert points is not None  # a wave without collections has a percent
    return points
