"""Deltas against a real Samba AD DC: DirSync and USN, scope, restores and rollbacks."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from onprem.directory import DirectoryCursor, DirectoryReader, DirectoryRecord
from onprem.errors import (
    DirectoryBaseNotFound,
    DirectoryNotPermitted,
    DirectoryRestored,
    DirectoryResyncRequired,
)
from tests.support.samba_dc import FLEET_DN, LAB_DN, PLAIN_DN, WORKSTATIONS_DN, SambaDC

pytest_plugins = ["tests.support.samba_dc"]
KINDS = ["dirsync", "usn"]


@pytest.fixture
def dc(samba_dc: SambaDC) -> SambaDC:
    return samba_dc.ensure(allow_plain=False)


class Computers:
    """Computers a test creates (and removes again), so the shared domain stays as filled."""

    def __init__(self, admin: ldap3.Connection, prefix: str) -> None:
        self.admin, self.prefix, self.dns = admin, prefix, set[str]()

    def add(self, name: str, ou: str = WORKSTATIONS_DN, **attributes: object) -> str:
        dn = f"CN={self.prefix}{name},{ou}"
        account = {"sAMAccountName": f"{self.prefix}{name}$", "userAccountControl": 4096}
        self.admin.add(dn, ["computer"], account | attributes)
        self.dns.add(dn)
        return dn

    def guid(self, dn: str) -> uuid.UUID:
        self.admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
        return uuid.UUID(bytes_le=self.admin.response[0]["raw_attributes"]["objectGUID"][0])

    def cleanup(self) -> None:
        for dn in self.dns:
            with contextlib.suppress(ldap3.core.exceptions.LDAPNoSuchObjectResult):
                self.admin.delete(dn)


@pytest.fixture
def computers(dc: SambaDC, request: pytest.FixtureRequest) -> Iterator[Computers]:
    made = Computers(dc.admin(), f"T{abs(hash(request.node.name)) % 10_000:04d}")
    yield made
    made.cleanup()


def full_cursor(reader: DirectoryReader) -> DirectoryCursor:
    read = reader.read_full()
    for _ in read:
        pass
    return read.cursor


@pytest.mark.parametrize("kind", KINDS)
def test_a_delta_sees_modify_add_delete_disable_and_a_move_out(
    dc: SambaDC, computers: Computers, kind: str
) -> None:
    edited = computers.add("EDIT", operatingSystem="Windows 10 Enterprise")
    gone = computers.add("GONE")
    moved = computers.add("MOVE")
    locked = computers.add("LOCK")
    guids = {dn: computers.guid(dn) for dn in (edited, gone, moved, locked)}
    reader = DirectoryReader(dc.config(delta=kind))
    cursor = full_cursor(reader)

    admin = computers.admin
    admin.modify(edited, {"operatingSystem": [(ldap3.MODIFY_REPLACE, ["Windows 11 Enterprise"])]})
    added = computers.add("NEW1", dNSHostName="new1.cobridge.test")
    admin.delete(gone)
    admin.modify_dn(moved, moved.split(",")[0], new_superior=LAB_DN)
    computers.dns.add(moved.replace(WORKSTATIONS_DN, LAB_DN))
    admin.modify(locked, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [4098])]})

    delta = reader.read_delta(DirectoryCursor.from_json(cursor.to_json()))
    changed = {r.object_guid: r for r in delta.changed}
    assert set(changed) == {guids[edited], guids[locked], computers.guid(added)}
    assert changed[guids[edited]].operating_system == "Windows 11 Enterprise"
    assert changed[guids[locked]].disabled is True
    assert changed[computers.guid(added)].dns_host_name == "new1.cobridge.test"
    assert [(r.object_guid, r.deleted) for r in delta.deleted] == [(guids[gone], True)]
    assert delta.deleted[0].name == f"{computers.prefix}GONE"
    assert delta.deleted[0].last_known_parent == WORKSTATIONS_DN
    assert guids[moved] in delta.left_scope
    assert not set(delta.left_scope) & set(changed)
    assert delta.rejects == []
    assert delta.cursor.kind == kind
    assert delta.cursor.highest_usn > cursor.highest_usn

    # Nothing changed since: the next delta is empty.
    again = reader.read_delta(delta.cursor)
    assert (again.changed, again.deleted, again.left_scope) == ([], [], [])


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_that_stops_matching_the_filter_leaves_the_scope(
    dc: SambaDC, computers: Computers, kind: str
) -> None:
    stays = computers.add("STAY", operatingSystem="Windows 10 Enterprise")
    leaves = computers.add("LEAVE", operatingSystem="Windows 11 Enterprise")
    config = dc.config(delta=kind, filter="(&(objectClass=computer)(operatingSystem=Windows*))")
    reader = DirectoryReader(config)
    cursor = full_cursor(reader)
    admin = computers.admin
    admin.modify(stays, {"operatingSystem": [(ldap3.MODIFY_REPLACE, ["Windows 11 Pro"])]})
    admin.modify(leaves, {"operatingSystem": [(ldap3.MODIFY_REPLACE, ["Ubuntu 24.04"])]})
    delta = reader.read_delta(cursor)
    assert [r.object_guid for r in delta.changed] == [computers.guid(stays)]
    assert delta.left_scope == [computers.guid(leaves)]
    assert delta.deleted == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_invocation_id_means_a_restored_dc_and_a_full_resync(dc: SambaDC, kind: str) -> None:
    # Simulated: Samba offers no restore that keeps the DC's name and issues a new
    # invocationId, so the stored cursor's invocationId is changed instead. The DC's
    # real invocationId is read live, as on every delta.
    reader = DirectoryReader(dc.config(delta=kind))
    cursor = full_cursor(reader)
    stale = cursor.model_copy(update={"invocation_id": uuid.uuid4()})
    with pytest.raises(DirectoryRestored, match="restored from a backup"):
        reader.read_delta(stale)
    other_dc = cursor.model_copy(update={"ds_service_name": "CN=NTDS Settings,CN=DC2,CN=x"})
    with pytest.raises(DirectoryResyncRequired, match="from domain controller"):
        reader.read_delta(other_dc)
    with pytest.raises(DirectoryResyncRequired, match="base DNs or the filter"):
        DirectoryReader(dc.config(delta=kind, base_dns=[FLEET_DN])).read_delta(cursor)
    assert isinstance(reader.read_delta(cursor).cursor, DirectoryCursor)


def test_a_dc_put_back_from_a_file_snapshot_is_a_rollback(dc: SambaDC, tmp_path: Path) -> None:
    # Real: the DC's files are copied, changed through LDAP, then copied back; the
    # invocationId stays (as after a VM snapshot revert) but the USNs go backwards.
    # The restore also takes away the computers added here.
    dc.snapshot(tmp_path / "snapshot")
    reader = DirectoryReader(dc.config())
    cursor = full_cursor(reader)
    computers = Computers(dc.admin(), "SNAP")
    for n in range(3):
        computers.add(f"{n}")
    later = reader.read_delta(cursor).cursor
    assert later.highest_usn > cursor.highest_usn
    dc.restore(tmp_path / "snapshot")
    with pytest.raises(DirectoryRestored, match="rolled back"):
        reader.read_delta(later)


def test_a_base_dn_that_disappears_fails_the_delta_instead_of_removing_everything(
    dc: SambaDC, computers: Computers
) -> None:
    ou = f"OU=Kiosks{computers.prefix},{FLEET_DN}"
    computers.admin.add(ou, ["organizationalUnit"])
    for n in range(3):
        computers.add(f"KIOSK{n}", ou=ou)
    reader = DirectoryReader(dc.config(base_dns=[ou], delta="usn"))
    cursor = full_cursor(reader)
    renamed = f"OU=Gone{computers.prefix}"
    computers.admin.modify_dn(ou, renamed)
    try:
        with pytest.raises(DirectoryBaseNotFound, match=ou):
            reader.read_delta(cursor)
    finally:
        computers.dns = {dn.replace(ou, f"{renamed},{FLEET_DN}") for dn in computers.dns}
        computers.cleanup()
        computers.admin.delete(f"{renamed},{FLEET_DN}")


def test_dirsync_without_the_replication_right_is_a_clear_error(dc: SambaDC) -> None:
    config = dc.config(bind_dn=PLAIN_DN)
    read = DirectoryReader(config).read_full()
    with pytest.raises(DirectoryNotPermitted, match="lacks the right") as caught:
        next(iter(read))
    assert "Replicating Directory Changes" in (caught.value.hint or "")
    # The same account may read with USN deltas.
    usn = DirectoryReader(dc.config(bind_dn=PLAIN_DN, delta="usn")).read_full()
    assert isinstance(next(iter(usn)), DirectoryRecord)
