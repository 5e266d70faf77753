"""What the directory reader yields: computer records, and rejects with a reason code.

`parse_entry` turns one LDAP entry (raw attribute bytes, as the DC sent them)
into a `DirectoryRecord`, or a `DirectoryReject` naming the attribute and a
stable reason code from `onprem.site_values.REJECT_CODES` (the same codes the
site reader uses, so quarantine reads the same for both sources). It never
raises for bad data: one bad object must not stop a read.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from onprem.site_values import MAX_NAME_LENGTH, MAX_TEXT_LENGTH, MAX_YEAR, MIN_YEAR, REJECT_CODES

ATTRIBUTES = (
    "objectGUID",
    "name",
    "sAMAccountName",
    "dNSHostName",
    "operatingSystem",
    "operatingSystemVersion",
    "lastLogonTimestamp",
    "whenChanged",
    "uSNChanged",
    "userAccountControl",
    "isDeleted",
    "lastKnownParent",
)
ACCOUNTDISABLE = 0x2  # userAccountControl bit 2 (DOMAIN.md)
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
# lastLogonTimestamp of 0 or the largest int64 means "never" (not a moment).
_NEVER = (0, 0x7FFFFFFFFFFFFFFF)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_GENERALIZED_TIME = re.compile(r"^(\d{14})(?:\.\d+)?Z$")
# A tombstone's name is "<name>\nDEL:<guid>"; its lastKnownParent may carry "<GUID=...>;".
_TOMBSTONE_SUFFIX = re.compile(r"\nDEL:[0-9a-fA-F-]{36}$")
_EXTENDED_DN = re.compile(r"^(?:<[A-Za-z]+=[^>]*>;)+")
_VERSION_BUILD = re.compile(r"\((\d+)\)")

Raw = Mapping[str, Sequence[bytes] | None]


@dataclass(frozen=True, slots=True)
class DirectoryRecord:
    """One computer object (or its tombstone, `deleted=True`), validated."""

    object_guid: uuid.UUID
    dn: str
    name: str
    sam_account_name: str | None
    dns_host_name: str | None
    operating_system: str | None
    operating_system_version: str | None
    last_logon: datetime | None
    when_changed: datetime | None
    usn_changed: int | None
    user_account_control: int | None
    deleted: bool = False
    # A tombstone's container before deletion; None for live objects.
    last_known_parent: str | None = None

    @property
    def disabled(self) -> bool:
        """Whether the account is disabled (userAccountControl bit 2)."""
        return bool((self.user_account_control or 0) & ACCOUNTDISABLE)

    @property
    def os_build(self) -> int | None:
        """The build in operatingSystemVersion (`10.0 (22631)` -> 22631), or None."""
        found = _VERSION_BUILD.search(self.operating_system_version or "")
        return int(found[1]) if found else None


@dataclass(frozen=True, slots=True)
class DirectoryReject:
    """An entry that failed validation: kept with its reason, never silently dropped."""

    dn: str | None
    object_guid: uuid.UUID | None
    name: str | None
    reason: str
    attribute: str
    detail: str


class _Invalid(Exception):
    def __init__(self, reason: str, attribute: str, detail: str) -> None:
        assert reason in REJECT_CODES
        super().__init__(detail)
        self.reason, self.attribute, self.detail = reason, attribute, detail


def _one(raw: Raw, attribute: str) -> bytes | None:
    values = raw.get(attribute) or ()
    if len(values) > 1:
        raise _Invalid("wrong_type", attribute, f"{len(values)} values where one is expected")
    return values[0] if values else None


def _decoded(raw: Raw, attribute: str) -> str | None:
    value = _one(raw, attribute)
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid("wrong_type", attribute, "not UTF-8 text") from None


def _text(raw: Raw, attribute: str, limit: int) -> str | None:
    text = _decoded(raw, attribute)
    return check_text(text, attribute, limit) if text and text.strip() else None


def check_text(text: str, attribute: str, limit: int) -> str:
    """`text` if storable anywhere: no control characters, at most `limit` characters."""
    if _CONTROL.search(text):
        raise _Invalid("control_character", attribute, REJECT_CODES["control_character"])
    if len(text) > limit:
        raise _Invalid("too_long", attribute, f"{len(text)} characters, at most {limit}")
    return text


def _integer(raw: Raw, attribute: str, low: int, high: int) -> int | None:
    value = _one(raw, attribute)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise _Invalid("wrong_type", attribute, "not a whole number") from None
    if not low <= number <= high:
        raise _Invalid("out_of_range", attribute, f"{number} is outside {low}..{high}")
    return number


def _possible(moment: datetime, attribute: str) -> datetime:
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise _Invalid("impossible_date", attribute, f"year {moment.year}")
    return moment


def _filetime(raw: Raw, attribute: str) -> datetime | None:
    ticks = _integer(raw, attribute, -(2**63), 2**63 - 1)
    if ticks is None or ticks in _NEVER:
        return None
    if ticks < 0:
        raise _Invalid("impossible_date", attribute, "a negative FILETIME")
    return _possible(_FILETIME_EPOCH + timedelta(microseconds=ticks // 10), attribute)


def _generalized_time(raw: Raw, attribute: str) -> datetime | None:
    value = _one(raw, attribute)
    if value is None:
        return None
    found = _GENERALIZED_TIME.match(value.decode("ascii", "replace"))
    try:
        moment = datetime.strptime(found[1], "%Y%m%d%H%M%S") if found else None
    except ValueError:
        moment = None
    if moment is None:
        raise _Invalid(
            "impossible_date", attribute, "not a GeneralizedTime such as 20261101080000.0Z"
        )
    return _possible(moment.replace(tzinfo=UTC), attribute)


def _guid(raw: Raw) -> uuid.UUID:
    value = _one(raw, "objectGUID")
    if value is None or len(value) != 16 or value == bytes(16):
        raise _Invalid("invalid_guid", "objectGUID", REJECT_CODES["invalid_guid"])
    return uuid.UUID(bytes_le=value)


def _masked(text: str | None, limit: int) -> str | None:
    # What a reject shows must itself be storable anywhere.
    return _CONTROL.sub("?", text)[:limit] if text else None


def parse_entry(dn: str, raw: Raw) -> DirectoryRecord | DirectoryReject:
    """A record for a valid entry (live or tombstone), else a reject; never raises."""
    guid: uuid.UUID | None = None
    name: str | None = None
    try:
        guid = _guid(raw)
        deleted = _one(raw, "isDeleted") == b"TRUE"
        name = _decoded(raw, "name")
        if deleted and name:
            name = _TOMBSTONE_SUFFIX.sub("", name)
        if not name or not name.strip():
            raise _Invalid("empty_value", "name", REJECT_CODES["empty_value"])
        name = check_text(name, "name", MAX_NAME_LENGTH)
        parent = _text(raw, "lastKnownParent", MAX_TEXT_LENGTH) if deleted else None
        return DirectoryRecord(
            object_guid=guid,
            dn=check_text(dn, "distinguishedName", MAX_TEXT_LENGTH),
            name=name,
            sam_account_name=_text(raw, "sAMAccountName", MAX_NAME_LENGTH),
            dns_host_name=_text(raw, "dNSHostName", MAX_NAME_LENGTH),
            operating_system=_text(raw, "operatingSystem", MAX_TEXT_LENGTH),
            operating_system_version=_text(raw, "operatingSystemVersion", MAX_TEXT_LENGTH),
            last_logon=_filetime(raw, "lastLogonTimestamp"),
            when_changed=_generalized_time(raw, "whenChanged"),
            usn_changed=_integer(raw, "uSNChanged", 0, 2**63 - 1),
            user_account_control=_integer(raw, "userAccountControl", -(2**31), 2**32 - 1),
            deleted=deleted,
            last_known_parent=_EXTENDED_DN.sub("", parent) if parent else None,
        )
    except _Invalid as bad:
        return DirectoryReject(
            _masked(dn, MAX_TEXT_LENGTH),
            guid,
            _masked(name, MAX_NAME_LENGTH),
            bad.reason,
            bad.attribute,
            bad.detail,
        )
