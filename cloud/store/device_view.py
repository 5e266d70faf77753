"""The device view: one mapping from stored device rows to the wire model.

Also the pieces every reader of that view shares: the query error, `$select`
resolution, and the CSV rendering of a device.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from cloud.contract.devices import DEVICE_FIELDS, DeviceOut, ManagedBy
from cloud.store.schema import devices
from workloads.errors import CobridgeError


class QueryError(CobridgeError):
    """A device query parameter is wrong; `parameter` names it (the wire name)."""

    code = "invalid_query"

    def __init__(self, parameter: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"invalid {parameter}: {reason}", hint=hint)
        self.parameter = parameter


# The columns the view reads (never the JSON blobs). name_key is the deviceName sort key.
VIEW_COLUMNS: tuple[sa.Column, ...] = tuple(
    devices.c[name]
    for name in (
        "device_id",
        "name",
        "name_key",
        "managed_by",
        "hierarchy_id",
        "site_code",
        "smsid",
        "resource_id",
        "aad_device_id",
        "serial_number",
        "manufacturer",
        "model",
        "os_family",
        "os_version",
        "os_build",
        "os_caption",
        "domain",
        "fqdn",
        "user_name",
        "client",
        "client_version",
        "client_active",
        "health_evaluation",
        "comanagement_flags",
        "mdm_enrolled_at",
        "site_mdm_enrolled",
        "last_active_at",
        "last_policy_request_at",
        "last_hw_at",
        "first_seen_at",
        "updated_at",
    )
)

# Wire name -> DeviceOut attribute name.
_ATTRIBUTE = {DeviceOut.model_fields[name].alias or name: name for name in DeviceOut.model_fields}


def aware_utc(value: datetime | None) -> datetime | None:
    """A stored time (naive UTC) as an aware UTC datetime."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def naive_utc(value: datetime) -> datetime:
    """An aware datetime as the naive UTC the store keeps."""
    return value.astimezone(UTC).replace(tzinfo=None)


def device_out(row: sa.RowMapping) -> DeviceOut:
    """The wire model of one stored device row (the single column -> field mapping).

    Built without validation: every value comes from the store, typed by its
    column, and listing pages builds thousands of these per second.
    """
    managed_by = ManagedBy(row["managed_by"])
    return DeviceOut.model_construct(
        id=row["device_id"],
        device_name=row["name"],
        managed_by=managed_by,
        management_agent=managed_by.management_agent,
        hierarchy_id=row["hierarchy_id"],
        site_code=row["site_code"],
        smsid=row["smsid"],
        resource_id=row["resource_id"],
        azure_ad_device_id=row["aad_device_id"],
        serial_number=row["serial_number"],
        manufacturer=row["manufacturer"],
        model=row["model"],
        operating_system=row["os_family"],
        os_version=row["os_version"],
        os_build=row["os_build"],
        os_caption=row["os_caption"],
        domain=row["domain"],
        fqdn=row["fqdn"],
        user_name=row["user_name"],
        client_installed=bool(row["client"]),
        client_version=row["client_version"],
        client_active=row["client_active"],
        client_health=row["health_evaluation"],
        co_management_flags=row["comanagement_flags"],
        enrolled_in_mdm=row["mdm_enrolled_at"] is not None or bool(row["site_mdm_enrolled"]),
        last_active_date_time=aware_utc(row["last_active_at"]),
        last_policy_request_date_time=aware_utc(row["last_policy_request_at"]),
        last_hardware_inventory_date_time=aware_utc(row["last_hw_at"]),
        created_date_time=aware_utc(row["first_seen_at"]),
        last_sync_date_time=aware_utc(row["updated_at"]),
    )


def _wire_time(value: datetime | None) -> str | None:
    """A stored time as the wire writes it: ISO 8601 UTC with Z (pydantic's JSON form)."""
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def wire_row(row: sa.RowMapping, fields: tuple[str, ...]) -> dict[str, object]:
    """The JSON-ready dict of a stored row, as `wire_item(device_out(row), fields)` makes it.

    Built straight from the row, without the model, for list pages: a hundred
    of these per page, where the model costs more than the query. Tested equal
    to the model's dump, key order included.
    """
    managed_by = ManagedBy(row["managed_by"])
    data: dict[str, object] = {
        "id": row["device_id"],
        "deviceName": row["name"],
        "managedBy": managed_by.value,
        "managementAgent": managed_by.management_agent,
        "hierarchyId": row["hierarchy_id"],
        "siteCode": row["site_code"],
        "smsid": row["smsid"],
        "resourceId": row["resource_id"],
        "azureADDeviceId": row["aad_device_id"],
        "serialNumber": row["serial_number"],
        "manufacturer": row["manufacturer"],
        "model": row["model"],
        "operatingSystem": row["os_family"],
        "osVersion": row["os_version"],
        "osBuild": row["os_build"],
        "osCaption": row["os_caption"],
        "domain": row["domain"],
        "fqdn": row["fqdn"],
        "userName": row["user_name"],
        "clientInstalled": bool(row["client"]),
        "clientVersion": row["client_version"],
        "clientActive": row["client_active"],
        "clientHealth": row["health_evaluation"],
        "coManagementFlags": row["comanagement_flags"],
        "enrolledInMdm": row["mdm_enrolled_at"] is not None or bool(row["site_mdm_enrolled"]),
        "lastActiveDateTime": _wire_time(row["last_active_at"]),
        "lastPolicyRequestDateTime": _wire_time(row["last_policy_request_at"]),
        "lastHardwareInventoryDateTime": _wire_time(row["last_hw_at"]),
        "createdDateTime": _wire_time(row["first_seen_at"]),
        "lastSyncDateTime": _wire_time(row["updated_at"]),
    }
    if fields == DEVICE_FIELDS:
        return data
    return {field: data[field] for field in fields}


def select_fields(select: list[str] | None) -> tuple[str, ...]:
    """The wire fields `$select` asks for, in its order, `id` first; all fields when absent."""
    if select is None:
        return DEVICE_FIELDS
    unknown = [name for name in select if name not in _ATTRIBUTE]
    if unknown:
        raise QueryError(
            "$select",
            f"unknown field {unknown[0]!r}",
            hint=f"selectable fields: {', '.join(DEVICE_FIELDS)}",
        )
    return tuple(dict.fromkeys(["id", *select]))


def wire_item(out: DeviceOut, fields: tuple[str, ...]) -> dict[str, object]:
    """The JSON-ready dict of `out` restricted to `fields` (wire names)."""
    if fields == DEVICE_FIELDS:
        return out.model_dump(mode="json", by_alias=True)
    data = out.model_dump(mode="json", by_alias=True, include={_ATTRIBUTE[f] for f in fields})
    return {field: data[field] for field in fields}


# Spreadsheets run cells that start with these as formulas (CSV injection).
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cells(out: DeviceOut, fields: tuple[str, ...]) -> list[str]:
    """One CSV row of `out`: ISO 8601 UTC times with Z, None empty, formulas neutralised."""
    cells = []
    for field in fields:
        value = getattr(out, _ATTRIBUTE[field])
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, datetime):
            cells.append(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))
        elif isinstance(value, int):
            cells.append(str(value))
        else:
            text = str(value)
            cells.append("'" + text if text.startswith(_FORMULA_LEADS) else text)
    return cells
