"""Inventory ingest: batches of device upserts and tombstones from a connector.

A batch is idempotent: its id identifies it, and a replay changes nothing.
Its `sequence` (per hierarchy, increasing) orders batches that travel
concurrently, so an older batch arriving late never overwrites newer data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from cloud.contract.attach import HIERARCHY_ID, SMSID
from cloud.contract.naming import CamelModel, CamelResponse

MAX_BATCH_ITEMS = 5000
GUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

COLLECTION_ID = r"^[A-Za-z0-9]{8}$"
CollectionId = Annotated[str, Field(pattern=COLLECTION_ID)]
Text = Field(default=None, max_length=4000)
Name = Field(default=None, max_length=255)


class CoManagementInfo(CamelModel):
    """The site's co-management state of a device (v_ClientCoManagementState)."""

    mdm_enrolled: bool = False
    policy_present: bool = False
    hybrid_aad_joined: bool = False
    aad_joined: bool = False
    workload_flags: int | None = Field(default=None, ge=0, le=2**31 - 1)
    enrollment_status_code: int | None = None
    enrollment_error: str | None = Text


class DeviceRecord(CamelModel):
    """One device as the site knows it: what the anchor product uploads, and more."""

    smsid: str = Field(pattern=SMSID)
    resource_id: int = Field(ge=0, le=2**31 - 1)  # an int in the site database
    name: str = Field(min_length=1, max_length=255)
    netbios_name: str | None = Name
    domain: str | None = Name
    fqdn: str | None = Name
    os_name: str | None = Text
    os_caption: str | None = Text
    os_version: str | None = Field(default=None, max_length=64)
    os_build: str | None = Field(default=None, max_length=64)
    manufacturer: str | None = Text
    model: str | None = Text
    serial_number: str | None = Field(default=None, max_length=255)
    user_name: str | None = Text
    distinguished_name: str | None = Text
    ad_site: str | None = Text
    is_virtual: bool | None = None
    aad_device_id: str | None = Field(default=None, pattern=GUID)
    aad_tenant_id: str | None = Field(default=None, pattern=GUID)
    client: bool = False
    client_version: str | None = Field(default=None, max_length=64)
    client_active: bool | None = None
    last_active_at: datetime | None = None
    last_policy_request_at: datetime | None = None
    last_hardware_inventory_at: datetime | None = None
    last_logon_at: datetime | None = None
    created_at: datetime | None = None
    health_evaluation: Literal["pass", "fail", "unknown"] | None = None
    comanagement: CoManagementInfo | None = None
    collections: list[CollectionId] = Field(default_factory=list, max_length=2000)
    content_hash: str = Field(min_length=8, max_length=128)


class Tombstone(CamelModel):
    """A device gone from the site, decided by a reconcile over a complete read."""

    smsid: str = Field(pattern=SMSID)
    reason: str = Field(default="deleted_at_source", max_length=64)


class CollectionRecord(CamelModel):
    """A collection of the site (v_Collection)."""

    collection_id: str = Field(pattern=COLLECTION_ID)
    name: str = Field(min_length=1, max_length=256)
    collection_type: int = Field(ge=0, le=10)
    limit_to: str | None = Field(default=None, max_length=8)


class IngestBatch(CamelModel):
    """Up to 5,000 upserts and tombstones, applied all-or-nothing."""

    batch_id: UUID
    hierarchy_id: str = Field(pattern=HIERARCHY_ID)
    sequence: int = Field(ge=0, le=2**62)
    upserts: list[DeviceRecord] = Field(default_factory=list, max_length=MAX_BATCH_ITEMS)
    tombstones: list[Tombstone] = Field(default_factory=list, max_length=MAX_BATCH_ITEMS)
    collections: list[CollectionRecord] | None = Field(default=None, max_length=MAX_BATCH_ITEMS)


class IngestAck(CamelResponse):
    """What a batch did; a replay returns the original acknowledgement, marked `replayed`.

    `upserted` devices were created or changed; `unchanged` ones only moved to
    this sequence; `stale` ones were skipped because a newer batch had already
    written them.
    """

    batch_id: UUID
    sequence: int
    upserted: int
    unchanged: int
    tombstoned: int
    stale: int
    replayed: bool = False
    received_at: datetime


class HeldDevicesQuery(CamelModel):
    """A page of the devices the tenant holds for the calling connector's hierarchy."""

    after: str | None = Field(default=None, max_length=64)
    top: int = Field(default=MAX_BATCH_ITEMS, ge=1, le=MAX_BATCH_ITEMS)


class HeldDevice(CamelResponse):
    """What the tenant holds of one attached device: the keys and the content hash.

    A connector whose state store is new (a re-install, a lost disk) adopts
    these as acknowledged, so it re-sends only what differs and deletes what
    the site no longer has, instead of leaving those devices behind.
    """

    smsid: str
    resource_id: int | None
    name: str
    aad_device_id: str | None
    serial_number: str | None
    model: str | None
    content_hash: str | None
    sequence: int | None


class HeldDevicePage(CamelResponse):
    """Devices by SMSID; `next_after` names where the next page starts (None: the end)."""

    value: list[HeldDevice]
    next_after: str | None
