"""Site records to wire records: the one place a `SiteDevice` becomes a `DeviceRecord`.

The reader (`onprem.site_records`) and the wire contract
(`cloud.contract.inventory`) validate independently, and the wire is stricter
in places: a ResourceID must fit a SQL `int`, version strings are at most 64
characters, serial numbers 255, collection ids must match its pattern, and
an FQDN built from a long name and a deep DN can pass 255. A record the
site holds but the wire refuses must not stop a sync, so every refusal
becomes a `MappingRejected` naming the wire field, the site column it came
from and why; the sync engine quarantines it (DESIGN.md section 6) and the
cycle goes on. Nothing here truncates or guesses: a value is sent as the site
holds it, or the device is quarantined with the reason.

Where both sides must agree (SMSID, GUIDs, collection ids) they do: the
reader's canonical forms match the wire patterns, and the tests keep it so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from cloud.contract.inventory import CollectionRecord, DeviceRecord
from onprem.site_reader import SiteCollection
from onprem.site_records import RejectedRecord, SiteDevice
from onprem.site_values import WHITESPACE
from workloads.errors import CobridgeError

# The workload flags integer on the wire is a non-negative 31-bit int. Agents
# report unknown high bits (DOMAIN.md: ignore them, never reject), and SQL
# Server's signed `int` turns bit 31 into a negative number: keep the 31 bits
# the wire carries (every known workload bit is among them) and drop the rest.
_WIRE_FLAG_BITS = 2**31 - 1

# Wire field -> the site column (view.column) it is read from, for rejects an
# admin can act on. Fields built from several columns name all of them.
SOURCE_COLUMNS: dict[str, str] = {
    "smsid": "v_R_System.SMS_Unique_Identifier0",
    "resource_id": "v_R_System.ResourceID",
    "name": "v_R_System.Name0",
    "netbios_name": "v_R_System.Netbios_Name0",
    "domain": "v_R_System.Resource_Domain_OR_Workgr0",
    "fqdn": "v_R_System.Netbios_Name0 or Name0, with the DC= parts of Distinguished_Name0",
    "os_name": "v_R_System.Operating_System_Name_and0",
    "os_caption": "v_GS_OPERATING_SYSTEM.Caption0",
    "os_version": "v_GS_OPERATING_SYSTEM.Version0",
    "os_build": "v_R_System.Build01",
    "manufacturer": "v_GS_COMPUTER_SYSTEM.Manufacturer0",
    "model": "v_GS_COMPUTER_SYSTEM.Model0",
    "serial_number": "v_GS_PC_BIOS.SerialNumber0",
    "user_name": "v_R_System.User_Name0",
    "distinguished_name": "v_R_System.Distinguished_Name0",
    "ad_site": "v_R_System.AD_Site_Name0",
    "aad_device_id": "v_R_System.AADDeviceID",
    "aad_tenant_id": "v_R_System.AADTenantID",
    "client_version": "v_R_System.Client_Version0",
    "comanagement": "v_ClientCoManagementState",
    "collections": "v_FullCollectionMembership.CollectionID",
    "content_hash": "the reader's content hash",
}

COLLECTION_COLUMNS: dict[str, str] = {
    "collection_id": "v_Collection.CollectionID",
    "name": "v_Collection.Name",
    "collection_type": "v_Collection.CollectionType",
    "limit_to": "v_Collection.LimitToCollectionID",
}

# pydantic error type -> the reject codes the reader uses (`site_values.REJECT_CODES`),
# so quarantine shows one vocabulary whichever side refused the value.
_REASONS = {
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "empty_value",
    "string_pattern_mismatch": "invalid_value",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "literal_error": "invalid_value",
    "value_error": "control_character",  # the wire's only model-level check: NUL
}


# Wire fields whose refused value is shown in a reject's detail.
_SHOWN_FIELDS = frozenset({"collections", "collection_id", "limit_to", "resource_id"})


class MappingRejected(CobridgeError):
    """A device (or collection) the site holds but the wire contract refuses.

    `smsid` identifies the device (None for a collection); `field` is the wire
    field (`os_build`, `comanagement.enrollment_error`, `collections`);
    `reason` is a reject code of the reader's vocabulary (`too_long`,
    `invalid_value`, `out_of_range`, ...); `detail` names the site column and
    the rule, never echoing free text. `resource_id` and `name`, when known,
    let the quarantine key and show the record like the reader's rejects;
    `column` is the site column the value came from (`wire.<field>` if none).
    """

    code = "mapping_rejected"

    def __init__(
        self,
        smsid: str | None,
        field: str,
        reason: str,
        detail: str,
        *,
        resource_id: int | None = None,
        name: str | None = None,
        column: str | None = None,
    ) -> None:
        self.smsid = smsid
        self.field = field
        self.reason = reason
        self.detail = detail
        self.resource_id = resource_id
        self.name = name
        self.column = column or f"wire.{field}"
        subject = f"device {smsid}" if smsid else "a collection"
        super().__init__(
            f"{subject} cannot be uploaded: {field} {reason}: {detail}",
            hint="the device stays quarantined until the site's value changes "
            "(or, if the value is legitimate, the wire contract accepts it)",
        )

    def as_rejected_record(self) -> RejectedRecord:
        """The same refusal in the reader's shape, for one quarantine of both kinds."""
        return RejectedRecord(
            resource_id=self.resource_id,
            smsid=self.smsid,
            name=self.name,
            reason=self.reason,
            column=self.column,
            detail=self.detail,
        )


def _utc(value: datetime | None) -> datetime | None:
    # The site's clock is UTC and its views hold naive datetimes (client
    # health, inventory, DDR and AD times alike): say so on the wire. An aware
    # value (a driver that returns them) is converted, never relabelled.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _flag(value: bool | int | None) -> bool | None:
    return None if value is None else bool(value)


def _optional_name(value: str | None) -> str | None:
    # The reader's rule for optional names (`site_values._optional_host_name`):
    # a blank name is no name. Its native check lets blanks through as text.
    return value if value and value.strip(WHITESPACE) else None


def _display_serial(serial: str | None) -> str | None:
    # The serial as the firmware reports it, placeholders ("To Be Filled By
    # O.E.M.") and case kept: the tenant shows it to admins, who compare it
    # with the sticker and the site console. Only surrounding blanks go.
    # Matching must use `device.keys.serial_number`, never this value.
    if serial is None:
        return None
    return serial.strip(WHITESPACE) or None


def _comanagement(device: SiteDevice) -> dict[str, Any] | None:
    state = device.comanagement
    if state is None:
        return None
    flags = state.workload_flags
    return {
        "mdm_enrolled": bool(state.mdm_enrolled),
        "policy_present": bool(state.policy_present),
        "hybrid_aad_joined": bool(state.hybrid_aad_joined),
        "aad_joined": bool(state.aad_joined),
        "workload_flags": None if flags is None else flags & _WIRE_FLAG_BITS,
        "enrollment_status_code": state.enrollment_status_code,
        "enrollment_error": state.enrollment_error,
    }


def _wire_values(device: SiteDevice) -> dict[str, Any]:
    keys, health = device.keys, device.health
    return {
        "smsid": keys.smsid,
        "resource_id": keys.resource_id,
        "name": device.name,
        "netbios_name": _optional_name(device.netbios_name),
        "domain": _optional_name(device.domain),
        "fqdn": keys.fqdn,
        "os_name": device.os_name,
        "os_caption": device.os_caption,
        "os_version": device.os_version,
        "os_build": device.os_build,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "serial_number": _display_serial(device.serial_number),
        "user_name": device.user_name,
        "distinguished_name": device.distinguished_name,
        "ad_site": device.ad_site,
        "is_virtual": _flag(device.is_virtual),
        "aad_device_id": keys.aad_device_id,  # canonical lowercase, nil GUID dropped
        "aad_tenant_id": device.aad_tenant_id,
        "client": bool(device.client),
        "client_version": device.client_version,
        "client_active": _flag(health.active) if health else None,
        "last_active_at": _utc(health.last_active) if health else None,
        "last_policy_request_at": _utc(health.last_policy_request) if health else None,
        "last_hardware_inventory_at": _utc(health.last_hardware_inventory) if health else None,
        "last_logon_at": _utc(device.last_logon),
        "created_at": _utc(device.created),
        "health_evaluation": health.evaluation if health else None,
        "comanagement": _comanagement(device),
        # Sorted and unique, as the tenant stores them: equal sets, equal records.
        "collections": sorted(set(device.collections)),
        "content_hash": device.content_hash,
    }


def _rejected(
    exc: ValidationError,
    columns: dict[str, str],
    prefix: str = "",
    device: SiteDevice | None = None,
) -> MappingRejected:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [str(part) for part in first["loc"] if not isinstance(part, int)]
    if first["type"] == "value_error":
        # A model-level check ("Value error, os_name contains a NUL character")
        # is located at its model; the message starts with the field's name.
        words = first["msg"].removeprefix("Value error, ").split()
        loc.append(words[0] if words else "record")
    field = ".".join(loc) or "record"
    reason = _REASONS.get(first["type"], "invalid_value")
    column = columns.get(loc[0]) if loc else None
    detail = f"{prefix}{column or 'the site record'}: {first['msg']}{_shown(loc, first)}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem(s))"
    if device is None:
        return MappingRejected(None, field, reason, detail, column=column)
    return MappingRejected(
        device.smsid,
        field,
        reason,
        detail,
        resource_id=device.resource_id,
        name=device.name,
        column=column,
    )


def _shown(loc: list[str], error: Any) -> str:
    # Free text is never echoed (it may be long, or hold control characters
    # or personal data); its length is. Ids are short and what an admin
    # searches for, so they are shown, escaped.
    value = error.get("input")
    if loc and loc[-1] in _SHOWN_FIELDS and isinstance(value, str):
        return f" (got {value[:20]!r})"
    if error["type"] == "string_too_long" and isinstance(value, str):
        return f" (got {len(value)})"
    return ""


def device_record(device: SiteDevice) -> DeviceRecord:
    """The wire record of a site device, or `MappingRejected` if the wire refuses a value.

    Key fields are the reader's normalised keys (`device.keys`): SMSID
    upper-case `GUID:...`, AADDeviceID lower-case, FQDN from the DN.
    `serial_number` is the site's value for display; see `_display_serial`.
    """
    try:
        return DeviceRecord.model_validate(_wire_values(device))
    except ValidationError as exc:
        raise _rejected(exc, SOURCE_COLUMNS, device=device) from None


def collection_records(
    collections: Iterable[SiteCollection],
    rejects: list[MappingRejected] | None = None,
) -> list[CollectionRecord]:
    """The wire records of the site's collections, in the order given.

    A collection the wire refuses is left out and, when `rejects` is given,
    appended to it (a bad collection must not stop the upload of the others;
    devices that name its id are refused by `device_record` on their own).
    """
    records: list[CollectionRecord] = []
    for collection in collections:
        try:
            records.append(
                CollectionRecord(
                    collection_id=collection.collection_id,
                    name=collection.name,
                    collection_type=collection.collection_type,
                    limit_to=collection.limit_to,
                )
            )
        except ValidationError as exc:
            if rejects is not None:
                shown = f"collection {collection.collection_id[:16]!r}: "
                rejects.append(_rejected(exc, COLLECTION_COLUMNS, shown))
    return records
