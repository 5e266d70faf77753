"""The sequence of devices a site is seeded with: roles, twins, duplicates, invalid records.

Each index draws its role from its own random stream, then a few indexes are
forced so that every dirty category exists on small sites: one obsolete twin
and one duplicate name when there are at least 200 devices, one record of
each invalid kind when there are at least 2,000. An obsolete twin is the
record a machine left behind before it was re-imaged, so it is emitted with
the next regular device (its later self) and takes that machine's name.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

from installer.demo.site_generator.device_factory import (
    INVALID_KINDS,
    DeviceFactory,
    DeviceRows,
    Machine,
    Role,
)
from installer.demo.site_generator.naming import NameAllocator, Salts
from installer.demo.site_generator.site_collections import SiteCollections

INVALID_SHARE = 0.001
TWIN_SHARE = 0.02
DUPLICATE_SHARE = 0.003
DECOMMISSIONED_SHARE = 0.005
MIN_DEVICES_FOR_TWIN_AND_DUPLICATE = 200
MIN_DEVICES_FOR_EVERY_INVALID_KIND = 2000


def device_rng(seed: int, index: int) -> random.Random:
    """The random stream that alone decides the device at `index`."""
    return random.Random(f"{seed}:{index}")


def forced_roles(seed: int, devices: int) -> dict[int, tuple[Role, str | None]]:
    """The indexes whose role is fixed so that small sites still hold every category."""
    positions = random.Random(f"{seed}:plan").sample(range(1, 200), 2 + len(INVALID_KINDS))
    forced: dict[int, tuple[Role, str | None]] = {}
    if devices >= MIN_DEVICES_FOR_TWIN_AND_DUPLICATE:
        forced[positions[0]] = ("twin", None)
        forced[positions[1]] = ("duplicate", None)
    if devices >= MIN_DEVICES_FOR_EVERY_INVALID_KIND:
        for position, kind in zip(positions[2:], INVALID_KINDS, strict=True):
            forced[position] = ("invalid", kind)
    return forced


def draw_role(rng: random.Random) -> tuple[Role, str | None]:
    """The role of a device that is not forced; always the first draws of its stream."""
    r = rng.random()
    if r < INVALID_SHARE:
        return "invalid", INVALID_KINDS[rng.randrange(len(INVALID_KINDS))]
    r -= INVALID_SHARE
    if r < TWIN_SHARE:
        return "twin", None
    r -= TWIN_SHARE
    if r < DUPLICATE_SHARE:
        return "duplicate", None
    r -= DUPLICATE_SHARE
    if r < DECOMMISSIONED_SHARE:
        return "decommissioned", None
    return "regular", None


class SiteStream:
    """Yields the devices of a site in generation order, each exactly once.

    Generation order is ResourceID order except that obsolete twins come
    right after the machine that replaced them. Nothing depends on how the
    caller chunks the stream.
    """

    def __init__(
        self,
        *,
        devices: int,
        seed: int,
        as_of: datetime,
        site_code: str,
        dialect: str,
        collections: SiteCollections,
    ) -> None:
        self.devices = devices
        self.seed = seed
        self.factory = DeviceFactory(
            as_of=as_of,
            site_code=site_code,
            dialect=dialect,
            salts=Salts(seed),
            names=NameAllocator(),
            collections=collections,
        )
        self.forced = forced_roles(seed, devices)
        self.duplicate_name_groups = 0
        self.invalid: dict[str, list[int]] = {kind: [] for kind in INVALID_KINDS}
        self._last_regular: Machine | None = None
        self._last_duplicated: str | None = None

    def __iter__(self) -> Iterator[DeviceRows]:
        pending_twins: list[tuple[int, random.Random]] = []
        build = self.factory.build
        for index in range(self.devices):
            rng = device_rng(self.seed, index)
            role, kind = draw_role(rng)
            if index == 0:
                role, kind = "regular", None
            role, kind = self.forced.get(index, (role, kind))
            if role == "twin":
                pending_twins.append((index, rng))
                continue
            partner = None
            if role == "duplicate":
                partner = self._last_regular
                assert partner is not None  # index 0 is always regular
                if partner.name != self._last_duplicated:
                    self.duplicate_name_groups += 1
                    self._last_duplicated = partner.name
            device = build(index, rng, role=role, invalid=kind, partner=partner)
            if kind is not None:
                self.invalid[kind].append(device.resource_id)
            yield device
            if role == "regular":
                self._last_regular = device.machine
                for twin_index, twin_rng in pending_twins:
                    yield build(twin_index, twin_rng, role="twin", partner=device.machine)
                pending_twins.clear()
        # Twins at the very end have no later self: they take the last regular machine.
        for twin_index, twin_rng in pending_twins:
            assert self._last_regular is not None
            yield build(twin_index, twin_rng, role="twin", partner=self._last_regular)
