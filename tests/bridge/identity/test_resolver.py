"""Identity resolution (DESIGN.md section 5): golden cases for every situation, and properties."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.identity import (
    LISTED,
    SUPERSEDED,
    IdentityResolver,
    KnownDevice,
    Reason,
    RecordKeys,
    Resolution,
    Situation,
)
from bridge.state.devices import DeviceState
from installer.demo.site_generator import seed_site
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_records import SiteDevice
from onprem.site_store import migrate_site
from onprem.site_values import PLACEHOLDER_SERIALS
from tests.conftest import AS_OF
from tests.support.site_rows import system_row

MODEL = "20XW"


def smsid(n: int) -> str:
    return f"GUID:{n:08X}-1111-4222-8333-444455556666"


def aad(n: int) -> str:
    return f"{n:08x}-aaaa-4bbb-8ccc-dddddddddddd"


def rec(n: int, *, rid: int | None = None, **keys: Any) -> RecordKeys:
    """Record keys of device `n` (ResourceID n unless given); no AADDeviceID, serial or model."""
    return RecordKeys(smsid=smsid(n), resource_id=n if rid is None else rid, **keys)


def run(
    known: Mapping[str, KnownDevice], records: Iterable[RecordKeys], *, complete: bool = True
) -> tuple[dict[int, Resolution], IdentityResolver]:
    """Resolve `records`; the resolutions by ResourceID, and the resolver for the rest."""
    resolver = IdentityResolver(known)
    found: dict[int, Resolution] = {}
    for r in resolver.resolve(records, complete=complete):
        assert r.resource_id not in found
        found[r.resource_id] = r
    return found, resolver


def site_device(n: int, **overrides: Any) -> SiteDevice:
    """A valid site record of device `n` with hardware inventory; columns overridable."""
    row = system_row(n)
    row.update(
        Manufacturer0="LENOVO",
        Model0=MODEL,
        SerialNumber0=f"PF{n:06d}",
        content_hash="0123456789abcdef0123456789abcdef",
    )
    row.update(overrides)
    return SiteDevice.model_validate(row)


def situations(found: Mapping[int, Resolution]) -> dict[int, tuple[Situation, Reason]]:
    return {rid: (r.situation, r.reason) for rid, r in found.items()}


# -- linked, unmatched --------------------------------------------------------


def test_a_held_smsid_is_linked_and_a_new_one_without_candidates_is_unmatched() -> None:
    known = {smsid(1): KnownDevice(aad_device_id=aad(1), serial="S1", model=MODEL)}
    found, resolver = run(
        known, [rec(1, aad_device_id=aad(1)), rec(2, aad_device_id=aad(2), serial="S2")]
    )
    assert situations(found) == {
        1: (Situation.LINKED, Reason.SMSID),
        2: (Situation.UNMATCHED, Reason.NO_CANDIDATE),
    }
    assert found[1].upload
    assert found[2].upload
    assert found[1].supersedes is None
    assert found[2].supersedes is None
    assert resolver.deletes() == []
    assert resolver.disputes() == []
    assert resolver.counts() == {
        "linked": 1,
        "unlinked": 0,
        "unmatched": 1,
        "disputed": 0,
        "deleted": 0,
        "retired": 0,
    }
    assert resolver.reason_counts() == {"linked/smsid": 1, "unmatched/no_candidate": 1}


def test_a_tombstoned_device_that_comes_back_is_new_and_never_a_predecessor() -> None:
    known = {
        smsid(1): KnownDevice(aad_device_id=aad(1), tombstoned=True),
        smsid(2): KnownDevice(aad_device_id=aad(2), tombstoned=True),
    }
    # Device 1 is back under its own SMSID; device 3 has device 2's AADDeviceID.
    found, resolver = run(known, [rec(1, aad_device_id=aad(1)), rec(3, aad_device_id=aad(2))])
    assert situations(found) == {
        1: (Situation.UNMATCHED, Reason.NO_CANDIDATE),
        3: (Situation.UNMATCHED, Reason.NO_CANDIDATE),
    }
    assert resolver.deletes() == []  # tombstoned already: nothing to delete twice


# -- unlinked: re-imaging ------------------------------------------------------


def test_reimaged_machine_links_the_new_record_to_its_obsolete_twin() -> None:
    # The site keeps the old record, obsolete, with the same name and serial;
    # the new one has a new SMSID and is not Entra-joined yet.
    old = site_device(1, Obsolete0=1, Active0=0, Name0="WKS-0042", SerialNumber0="PF3ABCD1")
    new = site_device(
        2, Name0="WKS-0042", SerialNumber0=" pf3abcd1 ", Model0="20xw", AADDeviceID=None
    )
    # The state does not store models: the twin's record supplies it.
    known = {old.smsid: KnownDevice(aad_device_id=old.aad_device_id, serial="PF3ABCD1")}
    found, resolver = run(known, [RecordKeys.of(new), RecordKeys.of(old)])

    successor, twin = found[new.resource_id], found[old.resource_id]
    assert (successor.situation, successor.reason) == (Situation.UNLINKED, Reason.SERIAL_MODEL)
    assert successor.supersedes == old.smsid
    assert successor.upload
    assert (twin.situation, twin.reason) == (Situation.RETIRED, Reason.SUPERSEDED)
    assert twin.superseded_by == new.smsid
    assert not twin.upload
    # One device in the tenant: the old one leaves with the new one's upsert,
    # as a supersede, not as a guarded delete.
    assert resolver.superseded() == {new.smsid: old.smsid}
    assert resolver.deletes() == []
    assert resolver.disputes() == []
    assert SUPERSEDED == "superseded"


def test_reimage_keeping_the_entra_device_links_by_aad_device_id_once_the_old_record_is_gone() -> (
    None
):
    # The old record was purged from the site; the state remembers its keys.
    known = {smsid(1): KnownDevice(aad_device_id=aad(7), serial="S1")}
    new = rec(2, aad_device_id=aad(7).upper(), serial="OTHER", model=MODEL)
    found, resolver = run(known, [new], complete=True)
    assert (found[2].situation, found[2].reason) == (Situation.UNLINKED, Reason.AAD_DEVICE_ID)
    assert found[2].supersedes == smsid(1)
    assert resolver.deletes() == []

    # On an incomplete read, absence proves nothing: device 1 may be live
    # outside the read, so the new record is held, not linked, not created.
    found, resolver = run(known, [new], complete=False)
    assert (found[2].situation, found[2].reason) == (
        Situation.DISPUTED,
        Reason.UNVERIFIED_CANDIDATE,
    )
    assert found[2].candidates == (smsid(1),)
    assert not found[2].upload
    assert resolver.superseded() == {}
    assert resolver.deletes() == []


def test_an_obsolete_twin_in_an_incomplete_read_is_still_evidence_enough_to_link() -> None:
    known = {smsid(1): KnownDevice(aad_device_id=aad(1))}
    found, resolver = run(
        known,
        [rec(1, aad_device_id=aad(1), obsolete=True), rec(2, aad_device_id=aad(1))],
        complete=False,
    )
    assert found[2].situation is Situation.UNLINKED
    assert found[2].supersedes == smsid(1)
    assert found[1].reason is Reason.SUPERSEDED
    assert resolver.deletes() == []


def test_aad_device_id_outranks_serial_and_model() -> None:
    # Device 1 has the new record's AADDeviceID, device 3 its serial + model.
    known = {
        smsid(1): KnownDevice(aad_device_id=aad(9)),
        smsid(3): KnownDevice(serial="S3", model=MODEL),
    }
    found, resolver = run(known, [rec(2, aad_device_id=aad(9), serial="S3", model=MODEL)])
    assert (found[2].situation, found[2].reason, found[2].supersedes) == (
        Situation.UNLINKED,
        Reason.AAD_DEVICE_ID,
        smsid(1),
    )
    assert resolver.deletes() == [smsid(3)]


def test_serial_without_model_or_model_without_serial_is_no_evidence() -> None:
    known = {
        smsid(1): KnownDevice(serial="S1"),  # the state has no model
        smsid(3): KnownDevice(serial="S3", model="OTHER"),
    }
    found, _ = run(known, [rec(2, serial="S1", model=MODEL), rec(4, serial="S3", model=MODEL)])
    assert {r.situation for r in found.values()} == {Situation.UNMATCHED}


# -- disputed ----------------------------------------------------------------


def test_two_live_records_sharing_an_aad_device_id_are_both_disputed() -> None:
    # Neither is held.
    found, resolver = run({}, [rec(1, aad_device_id=aad(5)), rec(2, aad_device_id=aad(5))])
    assert situations(found) == {
        1: (Situation.DISPUTED, Reason.SHARED_AAD_DEVICE_ID),
        2: (Situation.DISPUTED, Reason.SHARED_AAD_DEVICE_ID),
    }
    assert found[1].rivals == (2,)
    assert found[2].rivals == (1,)
    assert not any(r.upload for r in found.values())
    [dispute] = resolver.disputes()
    assert (dispute.reason, dispute.key, dispute.value) == (
        Reason.SHARED_AAD_DEVICE_ID,
        "aad_device_id",
        aad(5),
    )
    assert [ref.resource_id for ref in dispute.records] == [1, 2]


def test_a_held_record_sharing_its_aad_device_id_with_a_newcomer_is_held_back_too() -> None:
    known = {smsid(1): KnownDevice(aad_device_id=aad(5))}
    found, resolver = run(known, [rec(1, aad_device_id=aad(5)), rec(2, aad_device_id=aad(5))])
    assert {r.situation for r in found.values()} == {Situation.DISPUTED}
    assert found[2].candidates == (smsid(1),)
    assert found[2].detail == (f"shared_aad_device_id; candidates {smsid(1)}; records ResourceID 1")
    # Held back is not deleted: the tenant keeps its last copy.
    assert resolver.deletes() == []


def test_a_dispute_clears_by_itself_when_the_data_stops_conflicting() -> None:
    known = {smsid(1): KnownDevice(aad_device_id=aad(5))}
    first, _ = run(known, [rec(1, aad_device_id=aad(5)), rec(2, aad_device_id=aad(5))])
    assert first[1].situation is first[2].situation is Situation.DISPUTED
    # Next cycle device 2 reports its own Entra device.
    second, resolver = run(known, [rec(1, aad_device_id=aad(5)), rec(2, aad_device_id=aad(6))])
    assert situations(second) == {
        1: (Situation.LINKED, Reason.SMSID),
        2: (Situation.UNMATCHED, Reason.NO_CANDIDATE),
    }
    assert resolver.disputes() == []


def test_reimaged_with_both_records_live_holds_the_newcomer_until_the_old_one_goes() -> None:
    known = {smsid(1): KnownDevice(aad_device_id=aad(1), serial="S1")}
    old_live = rec(1, aad_device_id=aad(1), serial="S1", model=MODEL)
    new = rec(2, serial="S1", model=MODEL)
    found, resolver = run(known, [old_live, new])
    # The held device keeps updating (its SMSID outranks serial + model); the
    # newcomer waits, with the held device named.
    assert situations(found) == {
        1: (Situation.LINKED, Reason.SMSID),
        2: (Situation.DISPUTED, Reason.SHARED_SERIAL_MODEL),
    }
    assert found[2].candidates == (smsid(1),)
    [dispute] = resolver.disputes()
    assert dispute.value == f"S1 / {MODEL.casefold()}"
    assert [ref.resource_id for ref in dispute.records] == [2]

    # The site marks the old record obsolete: the dispute resolves into a link.
    old_obsolete = rec(1, aad_device_id=aad(1), serial="S1", model=MODEL, obsolete=True)
    found, resolver = run(known, [old_obsolete, new])
    assert found[2].situation is Situation.UNLINKED
    assert found[2].supersedes == smsid(1)
    assert found[1].reason is Reason.SUPERSEDED
    assert resolver.disputes() == []
    assert resolver.deletes() == []


def test_two_new_live_records_sharing_serial_and_model_are_both_disputed() -> None:
    found, _ = run({}, [rec(1, serial="S1", model=MODEL), rec(2, serial="s1", model=" 20xw")])
    assert {(r.situation, r.reason) for r in found.values()} == {
        (Situation.DISPUTED, Reason.SHARED_SERIAL_MODEL)
    }


def test_two_held_records_sharing_serial_and_model_stay_linked() -> None:
    known = {smsid(1): KnownDevice(serial="S1"), smsid(2): KnownDevice(serial="S1")}
    found, _ = run(known, [rec(1, serial="S1", model=MODEL), rec(2, serial="S1", model=MODEL)])
    assert {r.situation for r in found.values()} == {Situation.LINKED}


def test_two_live_records_with_one_smsid_are_disputed_and_the_device_kept() -> None:
    known = {smsid(1): KnownDevice()}
    found, resolver = run(known, [rec(1, rid=10), rec(1, rid=11)])
    assert {(r.situation, r.reason) for r in found.values()} == {
        (Situation.DISPUTED, Reason.SHARED_SMSID)
    }
    assert resolver.deletes() == []


def test_several_predecessors_dispute_and_are_all_kept() -> None:
    # Two held devices, gone from the site, both remember the Entra device.
    known = {
        smsid(1): KnownDevice(aad_device_id=aad(5)),
        smsid(2): KnownDevice(aad_device_id=aad(5)),
    }
    found, resolver = run(known, [rec(3, aad_device_id=aad(5))])
    assert (found[3].situation, found[3].reason) == (
        Situation.DISPUTED,
        Reason.SEVERAL_CANDIDATES,
    )
    assert found[3].candidates == (smsid(1), smsid(2))
    # A dispute never makes a device vanish.
    assert resolver.deletes() == []


def test_two_records_claiming_one_predecessor_get_neither_and_it_is_kept() -> None:
    known = {smsid(1): KnownDevice(aad_device_id=aad(1))}
    old = rec(1, aad_device_id=aad(1), serial="S1", model=MODEL, obsolete=True)
    by_aad = rec(2, aad_device_id=aad(1))
    by_serial = rec(3, serial="S1", model=MODEL)
    found, resolver = run(known, [old, by_aad, by_serial])
    assert situations(found) == {
        1: (Situation.DISPUTED, Reason.CANDIDATE_IN_DISPUTE),
        2: (Situation.DISPUTED, Reason.CONTESTED_CANDIDATE),
        3: (Situation.DISPUTED, Reason.CONTESTED_CANDIDATE),
    }
    assert found[1].rivals == (2, 3)
    assert found[2].candidates == (smsid(1),)
    assert found[2].rivals == (3,)
    assert resolver.superseded() == {}
    assert resolver.deletes() == []
    [dispute] = resolver.disputes()
    assert (dispute.key, dispute.value) == ("claimed_device", smsid(1))


def test_a_large_dispute_lists_the_first_records_and_counts_the_rest() -> None:
    records = [rec(n, aad_device_id=aad(5)) for n in range(1, LISTED + 21)]
    found, resolver = run({}, records)
    first = found[1]
    assert first.rivals == tuple(range(2, LISTED + 2))
    assert first.rival_count == LISTED + 19
    assert first.detail.endswith(f"ResourceID {LISTED + 1} and 19 more")
    [dispute] = resolver.disputes()
    assert len(dispute.records) == LISTED + 20


# -- names and placeholders are never evidence ---------------------------------


def test_duplicate_names_with_different_hardware_are_never_disputed() -> None:
    # Same name, same NetBIOS name, same domain, hence same FQDN.
    same = {"Name0": "KIOSK", "Netbios_Name0": "KIOSK"}
    dn = "CN=KIOSK,OU=Workstations,DC=corp,DC=contoso,DC=com"
    a = site_device(1, **same, Distinguished_Name0=dn)
    b = site_device(2, **same, Distinguished_Name0=dn)
    c = site_device(3, **same, Distinguished_Name0=dn, Obsolete0=1)
    assert a.keys.fqdn == b.keys.fqdn == c.keys.fqdn
    known = {a.smsid: KnownDevice(aad_device_id=a.aad_device_id), c.smsid: KnownDevice()}
    found, resolver = run(known, [RecordKeys.of(d) for d in (a, b, c)])
    assert situations(found) == {
        a.resource_id: (Situation.LINKED, Reason.SMSID),
        b.resource_id: (Situation.UNMATCHED, Reason.NO_CANDIDATE),
        c.resource_id: (Situation.DELETED, Reason.OBSOLETE),
    }
    assert resolver.disputes() == []


def test_placeholder_serials_neither_match_nor_conflict() -> None:
    a = site_device(1, SerialNumber0="To Be Filled By O.E.M.", AADDeviceID=None)
    b = site_device(2, SerialNumber0="to be filled by o.e.m.", AADDeviceID=None)
    assert RecordKeys.of(a).serial is None
    assert RecordKeys.of(a).model == MODEL.casefold()
    # A held device gone from the site, whose serial (as the state stores it,
    # for display) is the same placeholder, with the same model.
    gone = KnownDevice(serial="To Be Filled By O.E.M.", model=MODEL)
    assert gone.serial is None
    found, resolver = run({smsid(9): gone}, [RecordKeys.of(a), RecordKeys.of(b)])
    assert {r.situation for r in found.values()} == {Situation.UNMATCHED}
    assert resolver.deletes() == [smsid(9)]


# -- a device moving its AADDeviceID ---------------------------------------------


def test_a_device_moving_its_aad_device_id_stays_linked_and_releases_the_old_id() -> None:
    known = {
        smsid(1): KnownDevice(aad_device_id=aad(10)),  # now reports aad(11)
        smsid(2): KnownDevice(aad_device_id=aad(11)),  # gone; had aad(11) before
    }
    moved = rec(1, aad_device_id=aad(11))
    newcomer = rec(3, aad_device_id=aad(10))  # device 1's former Entra device
    found, resolver = run(known, [moved, newcomer])
    # Device 1 is itself (SMSID), not device 2's successor; its former
    # AADDeviceID is stale state and attracts nobody while it is live.
    assert situations(found) == {
        1: (Situation.LINKED, Reason.SMSID),
        3: (Situation.UNMATCHED, Reason.NO_CANDIDATE),
    }
    assert resolver.superseded() == {}
    assert resolver.deletes() == [smsid(2)]


# -- deletes -------------------------------------------------------------------


def test_a_device_is_deleted_only_after_a_complete_read() -> None:
    known = {smsid(n): KnownDevice() for n in (1, 2, 3, 4)}
    records = [
        rec(1),
        rec(3, obsolete=True),
        rec(4, decommissioned=True, obsolete=True),
        rec(5, obsolete=True),  # never held
    ]
    found, resolver = run(known, records, complete=False)
    assert resolver.deletes() == []
    assert situations(found) == {
        1: (Situation.LINKED, Reason.SMSID),
        3: (Situation.RETIRED, Reason.INCOMPLETE_READ),
        4: (Situation.RETIRED, Reason.INCOMPLETE_READ),
        5: (Situation.RETIRED, Reason.NOT_HELD),
    }

    found, resolver = run(known, records, complete=True)
    assert resolver.deletes() == [smsid(2), smsid(3), smsid(4)]
    assert situations(found) == {
        1: (Situation.LINKED, Reason.SMSID),
        3: (Situation.DELETED, Reason.OBSOLETE),
        4: (Situation.DELETED, Reason.DECOMMISSIONED),
        5: (Situation.RETIRED, Reason.NOT_HELD),
    }


def test_an_obsolete_record_whose_smsid_lives_on_in_a_live_record_deletes_nothing() -> None:
    known = {smsid(1): KnownDevice()}
    found, resolver = run(known, [rec(1, rid=10, obsolete=True), rec(1, rid=11)])
    assert situations(found) == {
        10: (Situation.RETIRED, Reason.LIVE_TWIN),
        11: (Situation.LINKED, Reason.SMSID),
    }
    assert resolver.deletes() == []


def test_obsolete_records_never_dispute_with_each_other_or_their_successor() -> None:
    known = {smsid(3): KnownDevice(aad_device_id=aad(1), serial="S1", model=MODEL)}
    records = [
        rec(1, aad_device_id=aad(1), serial="S1", model=MODEL, obsolete=True),
        rec(2, aad_device_id=aad(1), serial="S1", model=MODEL, decommissioned=True),
        rec(3, aad_device_id=aad(1), serial="S1", model=MODEL),
    ]
    found, resolver = run(known, records)
    assert situations(found) == {
        1: (Situation.RETIRED, Reason.NOT_HELD),
        2: (Situation.RETIRED, Reason.NOT_HELD),
        3: (Situation.LINKED, Reason.SMSID),
    }
    assert resolver.disputes() == []


def test_an_empty_complete_read_of_a_held_fleet_deletes_every_held_device() -> None:
    known = {smsid(n): KnownDevice(tombstoned=n % 10 == 0) for n in range(1, 101)}
    found, resolver = run(known, [], complete=True)
    assert found == {}
    # A mass delete: reported in full; the delete guard decides what goes.
    assert resolver.deletes() == sorted(smsid(n) for n in range(1, 101) if n % 10)

    _, resolver = run(known, [], complete=False)
    assert resolver.deletes() == []


def test_a_failed_read_raises_before_anything_is_resolved() -> None:
    def failing() -> Iterator[RecordKeys]:
        yield rec(1)
        raise OSError("site database went away")

    resolver = IdentityResolver({smsid(2): KnownDevice()})
    with pytest.raises(OSError, match="went away"):
        resolver.resolve(failing(), complete=True)
    with pytest.raises(RuntimeError):
        resolver.deletes()


def test_completeness_can_be_asked_once_the_read_is_exhausted() -> None:
    state = {"complete": False}

    def read() -> Iterator[RecordKeys]:
        yield rec(1)
        state["complete"] = True  # as `InventoryRead` sets `stats.complete`

    resolver = IdentityResolver({smsid(1): KnownDevice(), smsid(2): KnownDevice()})
    list(resolver.resolve(read(), complete=lambda: state["complete"]))
    assert resolver.deletes() == [smsid(2)]

    state["complete"] = False
    resolver = IdentityResolver({smsid(1): KnownDevice(), smsid(2): KnownDevice()})
    list(resolver.resolve(iter([rec(1)]), complete=lambda: state["complete"]))
    assert resolver.deletes() == []


# -- contract -----------------------------------------------------------------


def test_one_resolver_per_cycle_and_one_record_per_resource_id() -> None:
    resolver = IdentityResolver({})
    with pytest.raises(RuntimeError, match="resolve"):
        resolver.counts()
    with pytest.raises(ValueError, match="ResourceID 7"):
        resolver.resolve([rec(1, rid=7), rec(2, rid=7)], complete=True)
    resolver = IdentityResolver({})
    resolver.resolve([], complete=True)
    with pytest.raises(RuntimeError, match="one cycle"):
        resolver.resolve([], complete=True)


def test_keys_are_normalised_on_both_sides() -> None:
    device = site_device(
        1,
        AADDeviceID="{0000ABCD-AAAA-4BBB-8CCC-DDDDDDDDDDDD}",
        SerialNumber0=" pf3abcd1 ",
        Model0="  ThinkPad   T14 ",
        Obsolete0=0,
        Decommissioned0=1,
    )
    keys = RecordKeys.of(device)
    assert keys.aad_device_id == "0000abcd-aaaa-4bbb-8ccc-dddddddddddd"
    assert (keys.serial, keys.model) == ("PF3ABCD1", "thinkpad t14")
    assert keys.decommissioned
    assert not keys.live
    row = DeviceState(
        smsid=smsid(1),
        resource_id=1,
        content_hash="x" * 32,
        name="WKS",
        aad_device_id="0000ABCD-AAAA-4BBB-8CCC-DDDDDDDDDDDD",
        serial="Default string",
        model="ThinkPad T14",
        acked_sequence=1,
        tombstoned=True,
        updated_at=datetime(2026, 1, 1),
    )
    known = KnownDevice.from_state(row, model=row.model)
    assert known == KnownDevice(
        aad_device_id="0000abcd-aaaa-4bbb-8ccc-dddddddddddd",
        serial=None,
        model="thinkpad t14",
        tombstoned=True,
    )
    assert (
        RecordKeys(smsid(1), 1, aad_device_id="00000000-0000-0000-0000-000000000000").aad_device_id
        is None
    )


# -- properties over random fleets ----------------------------------------------

# Small pools, so that keys collide (None often, so that not everything does).
AADS = st.sampled_from([None, None, None, None, *(aad(n) for n in range(6))])
SERIALS = st.sampled_from([None, None, "S0", "S1", "S2", "To Be Filled By O.E.M."])
MODELS = st.sampled_from([None, "M0", "m0 ", "M1"])

known_devices = st.builds(
    KnownDevice, aad_device_id=AADS, serial=SERIALS, model=MODELS, tombstoned=st.booleans()
)
# Held devices are 0-11; records are 0-17, so some are newcomers.
fleet_known = st.dictionaries(st.integers(0, 11).map(smsid), known_devices, max_size=10)
record_fields = st.tuples(
    st.integers(0, 17), AADS, SERIALS, MODELS, st.booleans(), st.booleans(), st.booleans()
)


def _records(rows: list[tuple[int, Any, Any, Any, bool, bool, bool]]) -> list[RecordKeys]:
    return [
        RecordKeys(
            smsid=smsid(n),
            resource_id=1000 + i,
            aad_device_id=a,
            serial=s,
            model=m,
            # Mostly live: obsolete one time in four, decommissioned one in eight.
            obsolete=o and d,
            decommissioned=o and not d and x,
        )
        for i, (n, a, s, m, o, d, x) in enumerate(rows)
    ]


# Mostly one record per SMSID, plus a few that repeat one (a cloned client).
fleet_records = st.builds(
    lambda unique, repeats: _records(unique + repeats),
    st.lists(record_fields, max_size=12, unique_by=lambda row: row[0]),
    st.lists(record_fields, max_size=2),
)


@st.composite
def machine_fleets(draw: st.DrawFn) -> tuple[dict[str, KnownDevice], list[RecordKeys]]:
    """Machines with histories: each image of a machine is one SMSID, older ones
    usually obsolete or gone, keys usually the machine's (sometimes missing, as
    before inventory or Entra join, or changed), held, tombstoned or unknown."""
    known: dict[str, KnownDevice] = {}
    records: list[RecordKeys] = []
    n = 0
    for _ in range(draw(st.integers(1, 6))):
        serial, model, entra = draw(SERIALS), draw(MODELS), draw(AADS)
        images = draw(st.integers(1, 4))
        for i in range(images):
            n += 1
            latest = i == images - 1
            shown = draw(
                st.sampled_from(
                    ["live", "live", "live", "absent", "obsolete"]
                    if latest
                    else ["obsolete", "obsolete", "absent", "decommissioned", "live"]
                )
            )
            keys = {
                "aad_device_id": draw(st.sampled_from([entra, entra, None, draw(AADS)])),
                "serial": draw(st.sampled_from([serial, serial, serial, None, draw(SERIALS)])),
                "model": draw(st.sampled_from([model, model, model, None])),
            }
            if shown != "absent":
                records.append(
                    RecordKeys(
                        smsid=smsid(n),
                        resource_id=n,
                        obsolete=shown == "obsolete",
                        decommissioned=shown == "decommissioned",
                        **keys,
                    )
                )
            # The tenant usually held the old images and not yet the latest.
            state = draw(
                st.sampled_from(
                    ["held", "unknown", "unknown", "tombstoned"]
                    if latest
                    else ["held", "held", "held", "tombstoned", "unknown"]
                )
            )
            if state != "unknown":
                known[smsid(n)] = KnownDevice(
                    aad_device_id=draw(st.sampled_from([keys["aad_device_id"], draw(AADS)])),
                    serial=keys["serial"],
                    model=draw(st.sampled_from([None, keys["model"]])),
                    tombstoned=state == "tombstoned",
                )
    return known, records


random_fleets = st.tuples(fleet_known, fleet_records)


def _everything(resolver: IdentityResolver, found: list[Resolution]) -> tuple[Any, ...]:
    return (
        found,
        resolver.deletes(),
        resolver.superseded(),
        resolver.disputes(),
        resolver.counts(),
        resolver.reason_counts(),
    )


def _is_live(k: RecordKeys) -> bool:
    # Spelled out here, not taken from the code under test.
    return not k.obsolete and not k.decommissioned


def _sm(serial: str | None, model: str | None) -> tuple[str, str] | None:
    return (serial, model) if serial and model else None


def _candidates(
    k: RecordKeys, known: Mapping[str, KnownDevice], records: list[RecordKeys]
) -> set[str]:
    """DESIGN.md section 5, naively: the held devices no live record carries that match
    `k` by AADDeviceID or, when none does, by serial + model; each matched by the keys
    of its retired records if the read has any, else by the state's."""
    carried = {r.smsid for r in records if _is_live(r)}
    pool = {s for s, d in known.items() if not d.tombstoned and s not in carried}

    def evidence(s: str) -> list[tuple[str | None, tuple[str, str] | None]]:
        retired = [r for r in records if r.smsid == s and not _is_live(r)]
        if retired:
            return [(r.aad_device_id, _sm(r.serial, r.model)) for r in retired]
        d = known[s]
        return [(d.aad_device_id, _sm(d.serial, d.model))]

    if k.aad_device_id:
        by_aad = {s for s in pool if any(a == k.aad_device_id for a, _ in evidence(s))}
        if by_aad:
            return by_aad
    key = _sm(k.serial, k.model)
    return {s for s in pool if key and any(x == key for _, x in evidence(s))}


# Two newcomers claiming one predecessor by different keys: rare at random.
CONTESTED = (
    {smsid(1): KnownDevice(aad_device_id=aad(1), serial="S1", model="M0")},
    [rec(2, aad_device_id=aad(1)), rec(3, serial="S1", model="M0")],
)

# A held device now reporting another AADDeviceID; a newcomer has its old one.
MOVED = (
    {smsid(1): KnownDevice(aad_device_id=aad(1))},
    [rec(1, aad_device_id=aad(2)), rec(3, aad_device_id=aad(1))],
)


@settings(max_examples=500, deadline=None)
@example(fleet=CONTESTED, complete=True, shuffle=random.Random(0))
@example(fleet=MOVED, complete=True, shuffle=random.Random(0))
@given(
    fleet=st.one_of(random_fleets, machine_fleets()), complete=st.booleans(), shuffle=st.randoms()
)
def test_resolution_properties_over_random_fleets(
    fleet: tuple[dict[str, KnownDevice], list[RecordKeys]],
    complete: bool,
    shuffle: random.Random,
) -> None:
    known, records = fleet
    resolver = IdentityResolver(known)
    found = list(resolver.resolve(records, complete=complete))
    held = {s for s, k in known.items() if not k.tombstoned}
    live = [r for r in records if _is_live(r)]
    carried = {r.smsid for r in live}
    present = {r.smsid for r in records}
    by_rid = {r.resource_id: r for r in found}
    keys_of = {r.resource_id: r for r in records}
    deletes = set(resolver.deletes())
    successors = resolver.superseded()
    superseded = set(successors.values())
    named = {c for d in resolver.disputes() for c in d.candidates}

    # Placeholder serials never get this far.
    for serial in [r.serial for r in records] + [d.serial for d in known.values()]:
        assert serial is None or serial.casefold() not in PLACEHOLDER_SERIALS

    # Every input record gets exactly one situation.
    assert sorted(r.resource_id for r in found) == sorted(r.resource_id for r in records)
    assert len(by_rid) == len(found) == len(records)

    # No record is linked to two held devices, and each claims only a held one.
    claimed: list[str] = []
    for r in found:
        if r.situation is Situation.LINKED:
            assert r.supersedes is None
            assert r.smsid in held
            claimed.append(r.smsid)
        elif r.situation is Situation.UNLINKED:
            assert r.smsid not in held
            assert r.supersedes in held
            # A predecessor is never live at the site...
            assert r.supersedes not in carried
            # ... and an incomplete read shows only retired ones gone.
            if not complete:
                assert r.supersedes in present
            claimed.append(r.supersedes)
        else:
            assert r.supersedes is None
    # No held device is claimed by two records.
    assert all(n == 1 for n in Counter(claimed).values()), claimed
    assert successors == {r.smsid: r.supersedes for r in found if r.supersedes}

    # Deletes never touch a present live device, a superseded one, a
    # tombstoned one, nor one a dispute names; an incomplete read deletes nothing.
    assert not deletes & carried
    assert not deletes & superseded
    assert not deletes & named
    assert deletes <= held
    if not complete:
        assert deletes == set()
        assert not any(r.situation is Situation.DELETED for r in found)
    else:
        # Every held device is accounted for: carried by a live record,
        # superseded, kept because a dispute names it, or deleted.
        assert held - carried - superseded - named == deletes
    for r in found:
        if r.situation is Situation.DELETED:
            assert r.smsid in deletes

    # Retired records are never uploaded; disputed records neither.
    for r in found:
        if not _is_live(keys_of[r.resource_id]):
            assert not r.upload
            assert r.situation in {Situation.RETIRED, Situation.DELETED, Situation.DISPUTED}
        if r.situation is Situation.DISPUTED:
            assert not r.upload

    # The site contradicting itself: a shared AADDeviceID or SMSID always
    # disputes; a shared serial + model only records the tenant does not
    # hold. A held record is disputed for nothing else.
    aad_count = Counter(r.aad_device_id for r in live if r.aad_device_id)
    smsid_count = Counter(r.smsid for r in live)
    sm_count = Counter(_sm(r.serial, r.model) for r in live if _sm(r.serial, r.model))
    for k in live:
        situation = by_rid[k.resource_id].situation
        outranked = aad_count.get(k.aad_device_id, 0) > 1 or smsid_count[k.smsid] > 1
        if outranked:
            assert situation is Situation.DISPUTED
        elif k.smsid in held:
            assert situation is Situation.LINKED
        elif sm_count.get(_sm(k.serial, k.model), 0) > 1:
            assert situation is Situation.DISPUTED
        else:
            # A newcomer: linked only to its one candidate, created only
            # without any; else held back.
            candidates = _candidates(k, known, records)
            resolution = by_rid[k.resource_id]
            if situation is Situation.UNLINKED:
                assert candidates == {resolution.supersedes}
            elif situation is Situation.UNMATCHED:
                assert candidates == set()
            else:
                assert situation is Situation.DISPUTED
                assert candidates
                assert set(resolution.candidates) <= candidates

    # Independent of input order.
    shuffled = list(records)
    shuffle.shuffle(shuffled)
    again = IdentityResolver(known)
    assert _everything(again, list(again.resolve(shuffled, complete=complete))) == _everything(
        resolver, found
    )


# -- a realistic seeded site -------------------------------------------------------


def test_a_seeded_site_resolves_reimaged_twins_without_disputes(tmp_path: Path) -> None:
    engine = create_site_engine(f"sqlite:///{tmp_path / 'site.db'}")
    migrate_site(engine)
    report = seed_site(engine, devices=1500, seed=5, as_of=AS_OF)
    assert report.obsolete_twins > 0
    assert report.duplicate_name_groups > 0
    read = SiteReader(engine, chunk_size=400).read()
    devices = [d for d in read if isinstance(d, SiteDevice)]
    engine.dispose()
    keys = [RecordKeys.of(d) for d in devices]

    # First sync: nothing held. Twins are retired, every live record is new,
    # and nothing (duplicate names included) is disputed.
    found, resolver = run({}, keys)
    assert resolver.disputes() == []
    for d in devices:
        expected = Situation.UNMATCHED if d.live else Situation.RETIRED
        assert found[d.resource_id].situation is expected

    # The cycle after the re-images. The tenant held each re-imaged machine's
    # latest old record (now an obsolete twin) and every other live device,
    # not the new records. A machine re-imaged twice has two twins: the older
    # was superseded by the newer back then, so the tenant holds its tombstone.
    live_by_name: dict[str, list[SiteDevice]] = defaultdict(list)
    twins_by_name: dict[str, list[SiteDevice]] = defaultdict(list)
    for d in devices:
        if d.live:
            live_by_name[d.name].append(d)
        elif d.obsolete:
            twins_by_name[d.name].append(d)
    twins = [d for d in devices if d.obsolete]
    assert all(len(live_by_name[t.name]) == 1 for t in twins)
    successors = {t.resource_id: live_by_name[t.name][0] for t in twins}
    latest = {
        max(ts, key=lambda t: (t.created, t.resource_id)).smsid for ts in twins_by_name.values()
    }
    new_records = {s.smsid for s in successors.values()}
    known = {
        d.smsid: KnownDevice(
            aad_device_id=d.aad_device_id,
            serial=d.serial_number,
            tombstoned=d.obsolete and d.smsid not in latest,
        )
        for d in devices
        if d.smsid not in new_records
    }
    found, resolver = run(known, keys, complete=read.stats.complete)
    assert read.stats.complete
    assert resolver.disputes() == []
    outcomes: Counter[str] = Counter()
    for t in twins:
        if t.smsid not in latest:
            outcomes["older twin"] += 1
            assert found[t.resource_id].reason is Reason.NOT_HELD
            continue
        new = successors[t.resource_id]
        same_hardware = t.keys.serial_number is not None and (
            t.keys.serial_number,
            t.model,
        ) == (new.keys.serial_number, new.model)
        same_entra = t.aad_device_id is not None and t.aad_device_id == new.aad_device_id
        outcomes["linked" if same_hardware or same_entra else "replaced"] += 1
        if same_hardware or same_entra:
            assert found[new.resource_id].situation is Situation.UNLINKED
            assert found[new.resource_id].supersedes == t.smsid
            assert found[t.resource_id].reason is Reason.SUPERSEDED
        else:
            assert found[new.resource_id].situation is Situation.UNMATCHED
            assert found[t.resource_id].situation is Situation.DELETED
    # The seed has every kind: linked twins, twins with a new mainboard, and
    # machines re-imaged twice.
    assert set(outcomes) == {"older twin", "linked", "replaced"}, outcomes
    linked_away = set(resolver.superseded().values())
    assert linked_away
    assert not linked_away & set(resolver.deletes())
    # Every other held live device is simply linked.
    for d in devices:
        if d.live and d.smsid not in new_records:
            assert found[d.resource_id].situation is Situation.LINKED
