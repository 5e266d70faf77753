"""Active Directory computers on the wire: what the connector merged, and how admins read it.

The connector reads the domain's computer objects and matches each with the
site's records (DESIGN.md section 5). It sends the tenant every computer whose
record changed since the tenant last acknowledged it, keyed by objectGUID: an
AD-only computer ("no agent") has no SMSID. Sending a record again is
harmless (the tenant stores the latest content). A computer gone from AD is
sent with `deletedAt` set and stays listed; one still reporting to the site
is a `discrepancy`, never a silent delete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from cloud.contract.naming import CamelModel, CamelResponse

MAX_DIRECTORY_BATCH = 1000
MAX_DIRECTORY_PAGE = 500
GUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

# How an AD computer joined the site: by distinguished name, by NetBIOS name
# and domain, not at all ("no agent"), or ambiguously (never linked).
Match = Literal["dn", "nameDomain", "none", "disputed"]
MATCHED: tuple[str, ...] = ("dn", "nameDomain")

# The list filters: `all` is every computer still in AD; `deleted` those gone.
DirectoryState = Literal[
    "all", "noAgent", "matched", "disputed", "disabled", "discrepancy", "deleted"
]


class DirectoryComputer(CamelModel):
    """One AD computer object and its match with the site, as the connector merged them."""

    object_guid: str = Field(pattern=GUID)
    distinguished_name: str = Field(min_length=1, max_length=1024)
    name: str = Field(min_length=1, max_length=255)
    sam_account_name: str | None = Field(default=None, max_length=255)
    dns_host_name: str | None = Field(default=None, max_length=255)
    operating_system: str | None = Field(default=None, max_length=255)
    operating_system_version: str | None = Field(default=None, max_length=255)
    last_logon: datetime | None = None
    enabled: bool
    # When the connector saw the object leave AD (or its scope); None while present.
    deleted_at: datetime | None = None
    match: Match
    # The linked site record's SMSID: set exactly when `match` is dn or nameDomain.
    smsid: str | None = Field(default=None, min_length=1, max_length=41)
    # Gone from AD while its site record is live and its client still reports.
    discrepancy: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> DirectoryComputer:
        if (self.smsid is not None) != (self.match in MATCHED):
            raise ValueError("smsid is set exactly when match is dn or nameDomain")
        if self.discrepancy and (self.deleted_at is None or self.smsid is None):
            raise ValueError("a discrepancy is a matched computer that was deleted from AD")
        return self


class DirectoryComputerBatch(CamelModel):
    """Changed computers, up to `MAX_DIRECTORY_BATCH`, each GUID at most once."""

    computers: list[DirectoryComputer] = Field(min_length=1, max_length=MAX_DIRECTORY_BATCH)

    @model_validator(mode="after")
    def _unique(self) -> DirectoryComputerBatch:
        guids = [c.object_guid for c in self.computers]
        if len(set(guids)) != len(guids):
            raise ValueError("a batch names each objectGuid at most once")
        return self


class DirectoryComputerAck(CamelResponse):
    """How many computers of a batch the tenant received and how many it changed."""

    received: int
    changed: int


class DirectoryComputerOut(DirectoryComputer):
    """A stored computer: its record, when the tenant received it, the linked device's id."""

    model_config = CamelResponse.model_config
    received_at: datetime
    # The tenant's id of the linked device, when the site record is attached here.
    device_id: str | None = None


class DirectoryCounts(CamelResponse):
    """A hierarchy's computers: present in AD, by match, disabled, and gone from AD."""

    computers: int = 0
    matched: int = 0
    no_agent: int = 0
    disputed: int = 0
    disabled: int = 0
    discrepancies: int = 0
    deleted: int = 0


class DirectoryComputersOut(CamelResponse):
    """One page of a hierarchy's computers, the counts, and when the newest record arrived.

    `matched` is how many computers the filter selects; `received_at` None:
    the connector has sent none (directory discovery not enabled).
    """

    value: list[DirectoryComputerOut]
    counts: DirectoryCounts
    matched: int
    received_at: datetime | None


class DirectoryQuery(CamelModel):
    """The list's filter (`state`), a name search, and paging."""

    state: DirectoryState = "all"
    search: str | None = Field(default=None, min_length=1, max_length=255)
    top: int = Field(default=100, ge=1, le=MAX_DIRECTORY_PAGE, alias="$top")
    skip: int = Field(default=0, ge=0, le=1_000_000, alias="$skip")
