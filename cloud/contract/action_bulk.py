"""Bulk actions on the wire: a filtered set of devices, a preview, a confirmed request.

The devices are chosen with the device list's own filters (`DeviceFilter`,
the filter part of `DeviceQuery`) and/or a collection. A preview says how
many devices match, how many can take the action (attached, with the agent)
and gives a confirmation token bound to exactly that set; the request must
carry the count it was shown (`expectedCount`) or that token, and at most the
cap is ever queued. A set that changed since the preview, or grew past the
cap, is refused with a stable code instead of acting on devices nobody saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from cloud.contract.actions import (
    BULK_CAP,
    DEFAULT_EXPIRY_MINUTES,
    IDEMPOTENCY_KEY,
    MAX_EXPIRY_MINUTES,
    SHA256,
    ActionSpec,
)
from cloud.contract.devices import DeviceQuery, ManagedBy
from cloud.contract.naming import CamelModel, CamelResponse

COLLECTION_ID = r"^[A-Za-z0-9]{8}$"
MAX_SAMPLE = 20


class DeviceFilter(CamelModel):
    """The device list's filters (as `GET /api/v1/devices` takes them), all optional."""

    name_starts_with: str | None = Field(default=None, max_length=255)
    name_contains: str | None = Field(default=None, max_length=255)
    operating_system: str | None = Field(default=None, max_length=64)
    os_build: int | None = Field(default=None, ge=0)
    managed_by: ManagedBy | None = None
    hierarchy_id: str | None = Field(default=None, max_length=64)
    site_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{3}$")
    collection_id: str | None = Field(default=None, pattern=COLLECTION_ID)
    last_active_before: datetime | None = None
    last_active_after: datetime | None = None
    client_health: str | None = Field(default=None, pattern=r"^(pass|fail|unknown)$")
    client_active: bool | None = None

    def query(self, **paging: Any) -> DeviceQuery:
        """The device list query of this filter, with `paging` (top, skiptoken, select)."""
        return DeviceQuery.model_validate(
            {**self.model_dump(exclude_none=True), **paging, "orderby": "deviceName"}
        )


class BulkSelection(CamelModel):
    """Which devices and which action: a filter, a collection, or both (both must hold).

    `maxDevices` lowers the cap for this request (never above `BULK_CAP`).
    """

    filter: DeviceFilter | None = None
    collection_id: str | None = Field(default=None, pattern=COLLECTION_ID)
    action: ActionSpec
    max_devices: int = Field(default=BULK_CAP, ge=1, le=BULK_CAP)

    @model_validator(mode="after")
    def _chooses_devices(self) -> BulkSelection:
        if self.filter is None and self.collection_id is None:
            raise ValueError("give a filter, a collectionId, or both")
        inner = self.filter.collection_id if self.filter is not None else None
        if inner and self.collection_id and inner.upper() != self.collection_id.upper():
            raise ValueError("collectionId and filter.collectionId name different collections")
        return self

    def device_filter(self) -> DeviceFilter:
        """The filter with the collection folded in."""
        chosen = self.filter or DeviceFilter()
        if self.collection_id is None:
            return chosen
        return chosen.model_copy(update={"collection_id": self.collection_id})


class BulkTargetRef(CamelResponse):
    """One device of a preview's sample."""

    device_id: str
    device_name: str


class BulkPreview(CamelResponse):
    """What a bulk request with this selection would do now.

    `matched`: devices the filter matches; `targets`: those that can take the
    action (attached to a hierarchy, with the agent); `skipped`: the rest.
    `confirmToken` is bound to exactly these targets and this action; None
    when `targets` exceeds `cap` (nothing would be queued).
    """

    matched: int
    targets: int
    skipped: int
    cap: int
    within_cap: bool
    confirm_token: str | None
    sample: list[BulkTargetRef]


class BulkActionRequest(BulkSelection):
    """A confirmed bulk request: the count the caller was shown, or the preview's token.

    Both may be given; each must still hold. `idempotencyKey` as for one
    action: the same key and request answer the first bulk again.
    """

    expected_count: int | None = Field(default=None, ge=0, le=BULK_CAP)
    confirm_token: str | None = Field(default=None, pattern=SHA256)
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY)
    expires_in_minutes: int = Field(default=DEFAULT_EXPIRY_MINUTES, ge=1, le=MAX_EXPIRY_MINUTES)

    @model_validator(mode="after")
    def _confirmed(self) -> BulkActionRequest:
        if self.expected_count is None and self.confirm_token is None:
            raise ValueError("confirm with expectedCount (as previewed) or confirmToken")
        return self

    def selection(self) -> BulkSelection:
        """The selection part (what a preview of this request was asked)."""
        return BulkSelection(
            filter=self.filter,
            collection_id=self.collection_id,
            action=self.action,
            max_devices=self.max_devices,
        )


class BulkCreated(CamelResponse):
    """The actions a bulk request queued (one per target device), under one bulk id."""

    bulk_id: str
    count: int
    action_ids: list[str]
    requested_at: datetime
