"""Full reads against a real Samba AD DC: every computer of the base DNs, rejects, wrong bases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from onprem.directory import DirectoryReader, DirectoryRecord, DirectoryReject, FullRead
from onprem.errors import DirectoryBaseNotFound, DirectoryEmptyRead, DirectoryReadFailed
from tests.support.samba_dc import (
    COMPUTERS,
    EMPTY_DN,
    FLEET_DN,
    SERVERS_DN,
    WORKSTATIONS_DN,
    SambaDC,
)

pytest_plugins = ["tests.support.samba_dc"]


@pytest.fixture
def dc(samba_dc: SambaDC) -> SambaDC:
    return samba_dc.ensure(allow_plain=False)


def admin_view(dc: SambaDC, base: str) -> dict[uuid.UUID, str]:
    """objectGUID -> name of every computer below `base`, as Administrator sees them."""
    found = dc.admin().extend.standard.paged_search(
        base, "(objectClass=computer)", attributes=["objectGUID", "name"], paged_size=500
    )
    return {
        uuid.UUID(bytes_le=e["raw_attributes"]["objectGUID"][0]): e["attributes"]["name"]
        for e in found
        if e["type"] == "searchResEntry"
    }


def drain(read: FullRead) -> tuple[list[DirectoryRecord | DirectoryReject], Exception | None]:
    """Everything a read yielded before it ended, and the error it ended with (if any)."""
    items: list[DirectoryRecord | DirectoryReject] = []
    try:
        items.extend(read)
    except Exception as exc:
        return items, exc
    return items, None


def fill_names() -> Iterator[tuple[str, int]]:
    for i in range(COMPUTERS):
        yield (f"SRV{i:06d}" if i % 10 == 9 else f"WS{i:06d}"), i


def test_a_full_read_yields_every_computer_of_both_base_dns_once(dc: SambaDC) -> None:
    # Small pages: the read must follow the paging cookie through many pages.
    read = DirectoryReader(dc.config(page_size=150)).read_full()
    items, error = drain(read)
    assert error is None
    records = [i for i in items if isinstance(i, DirectoryRecord)]
    assert len(records) == len(items) == read.records
    expected = admin_view(dc, WORKSTATIONS_DN) | admin_view(dc, SERVERS_DN)
    assert {r.object_guid: r.name for r in records} == expected
    assert len(records) == len(expected)  # nothing twice
    by_name = {r.name: r for r in records}
    for name, i in fill_names():
        record = by_name[name]
        assert record.disabled is (i % 25 == 7)
        assert record.sam_account_name == f"{name}$"
        assert record.dns_host_name == f"{name.lower()}.cobridge.test"
        assert (record.last_logon is None) is (i % 4 == 0)
        assert record.os_build == (20348 if name.startswith("SRV") else 22631 if i % 3 else 19045)
        assert record.dn.endswith(SERVERS_DN if name.startswith("SRV") else WORKSTATIONS_DN)
        assert record.usn_changed
        assert record.when_changed
        assert record.when_changed.tzinfo
    assert not any(r.name.startswith("LAB") for r in records)  # OU=Lab is outside both bases
    cursor = read.cursor
    assert cursor.kind == "dirsync"
    assert cursor.cookie
    assert cursor.highest_usn >= max(r.usn_changed or 0 for r in records)


def test_a_filter_narrows_the_read(dc: SambaDC) -> None:
    config = dc.config(base_dns=[FLEET_DN], filter="(operatingSystem=Windows Server*)", delta="usn")
    items, error = drain(DirectoryReader(config).read_full())
    assert error is None
    names = {i.name for i in items if isinstance(i, DirectoryRecord)}
    assert names >= {name for name, _ in fill_names() if name.startswith("SRV")}
    assert all(name.startswith("SRV") for name in names)


def test_the_cursor_exists_only_once_the_read_is_complete(dc: SambaDC) -> None:
    read = DirectoryReader(dc.config()).read_full()
    with pytest.raises(DirectoryReadFailed):
        read.cursor  # noqa: B018
    iterator = iter(read)
    next(iterator)
    with pytest.raises(DirectoryReadFailed, match="did not complete"):
        read.cursor  # noqa: B018
    iterator.close()  # type: ignore[attr-defined]


def test_a_bad_object_is_a_reject_and_the_read_goes_on(dc: SambaDC) -> None:
    admin = dc.admin()
    dn = f"CN=BADCHAR01,{WORKSTATIONS_DN}"
    admin.add(
        dn,
        ["computer"],
        {
            "sAMAccountName": "BADCHAR01$",
            "operatingSystem": "Windows\x0111",
            "userAccountControl": 4096,
        },
    )
    try:
        read = DirectoryReader(dc.config()).read_full()
        items, error = drain(read)
    finally:
        admin.delete(dn)
    assert error is None
    rejects = [i for i in items if isinstance(i, DirectoryReject)]
    assert [(r.name, r.reason, r.attribute) for r in rejects] == [
        ("BADCHAR01", "control_character", "operatingSystem")
    ]
    assert rejects[0].dn == dn
    assert rejects[0].object_guid is not None
    assert (read.rejects, read.records) == (1, len(items) - 1)
    assert read.records >= COMPUTERS
    read.cursor  # noqa: B018  # a read with rejects is still complete


@pytest.mark.parametrize(
    "bases",
    [
        [f"OU=Nowhere,{FLEET_DN}"],
        # The first base exists: still nothing may be read, not a partial view.
        [WORKSTATIONS_DN, "OU=Servrs,OU=Fleet,DC=cobridge,DC=test"],
    ],
)
def test_a_missing_base_dn_is_an_error_before_anything_is_read(
    dc: SambaDC, bases: list[str]
) -> None:
    read = DirectoryReader(dc.config(base_dns=bases)).read_full()
    items, error = drain(read)
    assert isinstance(error, DirectoryBaseNotFound)
    assert bases[-1] in error.message
    assert items == []
    with pytest.raises(DirectoryReadFailed):
        read.cursor  # noqa: B018


def test_an_existing_base_dn_without_computers_is_an_empty_read_never_zero_devices(
    dc: SambaDC,
) -> None:
    read = DirectoryReader(dc.config(base_dns=[EMPTY_DN])).read_full()
    items, error = drain(read)
    assert isinstance(error, DirectoryEmptyRead)
    assert EMPTY_DN in error.message
    assert items == []
    with pytest.raises(DirectoryReadFailed):
        read.cursor  # noqa: B018
