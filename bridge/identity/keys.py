"""The identity keys of site records and of held devices, normalised alike."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol

from onprem.site_records import SiteDevice
from onprem.site_values import WHITESPACE, identifying_serial

_NIL_GUID = "00000000-0000-0000-0000-000000000000"


def _norm_aad(value: str | None) -> str | None:
    # Same canonical form as the reader's: lower case, no braces; nil is none.
    if value is None:
        return None
    text = value.strip(WHITESPACE).strip("{}").lower()
    return text if text and text != _NIL_GUID else None


def _norm_model(value: str | None) -> str | None:
    # Models are compared case- and spacing-insensitively; interned because a
    # fleet has few distinct models and many records.
    if value is None:
        return None
    text = " ".join(value.split()).casefold()
    return sys.intern(text) if text else None


@dataclass(frozen=True, slots=True)
class RecordKeys:
    """The identity keys of one site record, normalised; all the resolver keeps of it.

    `serial` is the identifying serial (placeholders are None, see
    `onprem.site_values.identifying_serial`). The name is deliberately absent:
    names are never evidence.
    """

    smsid: str
    resource_id: int
    aad_device_id: str | None = None
    serial: str | None = None
    model: str | None = None
    obsolete: bool = False
    decommissioned: bool = False

    def __post_init__(self) -> None:
        # Normalised here, whoever builds the keys, so both sides compare alike.
        object.__setattr__(self, "aad_device_id", _norm_aad(self.aad_device_id))
        object.__setattr__(self, "serial", identifying_serial(self.serial))
        object.__setattr__(self, "model", _norm_model(self.model))

    @classmethod
    def of(cls, device: SiteDevice) -> RecordKeys:
        """The keys of a site record (call it as the read streams; drop the record after)."""
        return cls(
            smsid=device.smsid,
            resource_id=device.resource_id,
            aad_device_id=device.aad_device_id,
            serial=device.serial_number,
            model=device.model,
            obsolete=bool(device.obsolete),
            decommissioned=bool(device.decommissioned),
        )

    @property
    def live(self) -> bool:
        """Neither obsolete nor decommissioned: a device, not a leftover."""
        return not self.obsolete and not self.decommissioned

    @property
    def serial_model(self) -> tuple[str, str] | None:
        """The (serial, model) key, or None unless both are known."""
        if self.serial is None or self.model is None:
            return None
        return (self.serial, self.model)


class _StateRow(Protocol):
    # `bridge.state.devices.DeviceState`, without importing the store here.
    aad_device_id: str | None
    serial: str | None
    tombstoned: bool


@dataclass(frozen=True, slots=True)
class KnownDevice:
    """A device the tenant has acknowledged, as the connector's state remembers it.

    `model` is optional because the state does not store it yet: until it
    does, serial + model can only match a held device whose (obsolete) record
    is in the read, which is where re-imaging leaves it.
    """

    aad_device_id: str | None = None
    serial: str | None = None
    model: str | None = None
    tombstoned: bool = False

    def __post_init__(self) -> None:
        # The state stores the serial as displayed (placeholders included).
        object.__setattr__(self, "aad_device_id", _norm_aad(self.aad_device_id))
        object.__setattr__(self, "serial", identifying_serial(self.serial))
        object.__setattr__(self, "model", _norm_model(self.model))

    @classmethod
    def from_state(cls, row: _StateRow, *, model: str | None = None) -> KnownDevice:
        """A known device from a `DeviceState` row (and its model, where known)."""
        return cls(
            aad_device_id=row.aad_device_id,
            serial=row.serial,
            model=model,
            tombstoned=row.tombstoned,
        )
