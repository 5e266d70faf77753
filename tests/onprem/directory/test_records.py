"""Directory entries -> records or rejects: every rule, with the reason code it gives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from onprem.directory import DirectoryRecord, DirectoryReject, parse_entry
from onprem.site_values import REJECT_CODES

GUID = uuid.UUID("4f356f01-72de-4a2c-b1e7-62841afcfd7c")
DN = "CN=WS000001,OU=Workstations,OU=Fleet,DC=cobridge,DC=test"


def raw(**overrides: list[bytes] | None) -> dict[str, list[bytes] | None]:
    """A live computer entry as ldap3 hands over raw attributes."""
    values: dict[str, list[bytes] | None] = {
        "objectGUID": [GUID.bytes_le],
        "name": [b"WS000001"],
        "sAMAccountName": [b"WS000001$"],
        "dNSHostName": [b"ws000001.cobridge.test"],
        "operatingSystem": [b"Windows 11 Enterprise"],
        "operatingSystemVersion": [b"10.0 (22631)"],
        "lastLogonTimestamp": [b"134100003000000000"],
        "whenChanged": [b"20261126180917.0Z"],
        "uSNChanged": [b"6029"],
        "userAccountControl": [b"4096"],
        "isDeleted": [],
        "lastKnownParent": [],
    }
    return values | overrides


def reject(entry: dict[str, list[bytes] | None], dn: str = DN) -> DirectoryReject:
    item = parse_entry(dn, entry)
    assert isinstance(item, DirectoryReject), item
    assert item.reason in REJECT_CODES
    return item


def test_a_valid_entry_becomes_a_typed_record() -> None:
    record = parse_entry(DN, raw())
    assert isinstance(record, DirectoryRecord)
    assert record.object_guid == GUID  # objectGUID is little-endian on the wire
    assert (record.dn, record.name, record.sam_account_name) == (DN, "WS000001", "WS000001$")
    assert record.dns_host_name == "ws000001.cobridge.test"
    assert record.operating_system_version == "10.0 (22631)"
    assert record.os_build == 22631
    # 13,410,000,300 s after 1601-01-01 is 1,765,526,700 s after 1970-01-01.
    assert record.last_logon == datetime(2025, 12, 12, 8, 5, tzinfo=UTC)
    assert record.when_changed == datetime(2026, 11, 26, 18, 9, 17, tzinfo=UTC)
    assert (record.usn_changed, record.user_account_control) == (6029, 4096)
    assert record.disabled is False
    assert record.deleted is False
    assert record.last_known_parent is None


def test_disabled_is_bit_2_of_user_account_control() -> None:
    disabled = parse_entry(DN, raw(userAccountControl=[b"4098"]))
    assert isinstance(disabled, DirectoryRecord)
    assert disabled.disabled is True
    # Other bits (4096 workstation trust, 65536 password never expires) are not "disabled".
    other = parse_entry(DN, raw(userAccountControl=[b"69632"]))
    assert isinstance(other, DirectoryRecord)
    assert other.disabled is False


@pytest.mark.parametrize("ticks", [b"0", b"9223372036854775807"])
def test_never_logged_on_is_no_date(ticks: bytes) -> None:
    record = parse_entry(DN, raw(lastLogonTimestamp=[ticks]))
    assert isinstance(record, DirectoryRecord)
    assert record.last_logon is None


def test_optional_attributes_may_be_absent() -> None:
    record = parse_entry(
        DN,
        raw(
            dNSHostName=[],
            operatingSystem=None,
            operatingSystemVersion=[],
            lastLogonTimestamp=[],
            sAMAccountName=[b"   "],
        ),
    )
    assert isinstance(record, DirectoryRecord)
    assert record.dns_host_name is None
    assert record.operating_system is None
    assert record.os_build is None
    assert record.last_logon is None
    assert record.sam_account_name is None


def test_a_tombstone_keeps_its_name_and_last_parent() -> None:
    tomb_dn = "CN=WS000002\\0ADEL:fa7eec68-a96d-4f39-bd12-0b78598c04db,CN=Deleted Objects,DC=cobridge,DC=test"
    record = parse_entry(
        tomb_dn,
        raw(
            isDeleted=[b"TRUE"],
            name=[b"WS000002\nDEL:fa7eec68-a96d-4f39-bd12-0b78598c04db"],
            lastKnownParent=[
                b"<GUID=f215c44a-d395-4979-8ce2-4f9a54991507>;OU=Workstations,OU=Fleet,DC=cobridge,DC=test"
            ],
        ),
    )
    assert isinstance(record, DirectoryRecord)
    assert record.deleted is True
    assert record.name == "WS000002"
    assert record.last_known_parent == "OU=Workstations,OU=Fleet,DC=cobridge,DC=test"
    assert record.dn == tomb_dn


@pytest.mark.parametrize(
    ("overrides", "reason", "attribute"),
    [
        ({"objectGUID": []}, "invalid_guid", "objectGUID"),
        ({"objectGUID": [b"short"]}, "invalid_guid", "objectGUID"),
        ({"objectGUID": [bytes(16)]}, "invalid_guid", "objectGUID"),
        ({"objectGUID": [GUID.bytes_le, uuid.uuid4().bytes_le]}, "wrong_type", "objectGUID"),
        ({"name": []}, "empty_value", "name"),
        ({"name": [b"  \t"]}, "empty_value", "name"),
        ({"name": [b"WS\x00001"]}, "control_character", "name"),
        ({"name": [b"x" * 256]}, "too_long", "name"),
        ({"name": [b"\xff\xfe"]}, "wrong_type", "name"),
        ({"dNSHostName": [b"ws1.corp\x1b.example"]}, "control_character", "dNSHostName"),
        (
            {"operatingSystem": ["Windows\u0085 11".encode()]},
            "control_character",
            "operatingSystem",
        ),
        ({"operatingSystemVersion": [b"1" * 4001]}, "too_long", "operatingSystemVersion"),
        ({"lastLogonTimestamp": [b"soon"]}, "wrong_type", "lastLogonTimestamp"),
        ({"lastLogonTimestamp": [b"-5"]}, "impossible_date", "lastLogonTimestamp"),
        ({"lastLogonTimestamp": [b"1000"]}, "impossible_date", "lastLogonTimestamp"),
        ({"whenChanged": [b"20261332000000.0Z"]}, "impossible_date", "whenChanged"),
        ({"whenChanged": [b"yesterday"]}, "impossible_date", "whenChanged"),
        ({"whenChanged": [b"21991101000000.0Z"]}, "impossible_date", "whenChanged"),
        ({"uSNChanged": [b"-1"]}, "out_of_range", "uSNChanged"),
        ({"uSNChanged": [b"12ab"]}, "wrong_type", "uSNChanged"),
        ({"userAccountControl": [b"4294967296"]}, "out_of_range", "userAccountControl"),
        ({"sAMAccountName": [b"A$", b"B$"]}, "wrong_type", "sAMAccountName"),
    ],
)
def test_each_invalid_value_is_a_reject_with_its_code(
    overrides: dict[str, list[bytes]], reason: str, attribute: str
) -> None:
    bad = reject(raw(**overrides))
    assert (bad.reason, bad.attribute) == (reason, attribute)
    assert bad.detail


def test_a_reject_names_the_object_but_holds_nothing_unstorable() -> None:
    bad = reject(raw(name=[b"WS\x00BAD"]), dn="CN=WS\x00BAD,OU=Fleet,DC=cobridge,DC=test")
    assert bad.object_guid == GUID
    assert bad.name == "WS?BAD"
    assert bad.dn == "CN=WS?BAD,OU=Fleet,DC=cobridge,DC=test"


def test_a_control_character_in_the_dn_alone_is_a_reject() -> None:
    bad = reject(raw(), dn="CN=WS000001\x07,OU=Fleet,DC=cobridge,DC=test")
    assert (bad.reason, bad.attribute) == ("control_character", "distinguishedName")
    assert bad.name == "WS000001"
