"""The embedded site's gate, policy delivery, published flags and log, on every backend."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from onprem.authority import embedded
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.errors import InvalidSmsId, SiteStoreNotMigrated, SiteWriteFailed
from onprem.site_authority import SiteAuthority
from onprem.site_database import create_site_engine
from onprem.site_schema import cobridge_site_gate
from workloads.catalog import ALL_WORKLOADS, Holder, Workload
from workloads.errors import MisroutedCommand
from workloads.gate import GateRecord
from workloads.invariant import DeliveryEvent, GrantEvent, RevokeEvent, check
from workloads.messages import Ack, Grant, Op, Revoke, Stale

SITE = Holder.CONFIGMGR
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
A = "GUID:" + str(uuid.UUID(int=1)).upper()
B = "GUID:" + str(uuid.UUID(int=2)).upper()
COMPLIANCE = Workload.COMPLIANCE


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def revoke(epoch: int, device: str = A, workload: Workload = COMPLIANCE) -> Revoke:
    return Revoke(side=SITE, device=device, workload=workload, epoch=epoch)


def grant(epoch: int, device: str = A, workload: Workload = COMPLIANCE) -> Grant:
    return Grant(side=SITE, device=device, workload=workload, epoch=epoch)


def ack(command: Grant | Revoke) -> Ack:
    return Ack(SITE, command.device, command.workload, command.epoch, command.op)


@pytest.fixture
def authority(site_engine: sa.Engine) -> EmbeddedSiteAuthority:
    return EmbeddedSiteAuthority(site_engine)


def record(authority: EmbeddedSiteAuthority, device: str = A, workload: Workload = COMPLIANCE):
    return authority.grants([device])[(device, workload)]


def test_an_unknown_device_is_held_by_the_site_at_epoch_zero(
    authority: EmbeddedSiteAuthority,
) -> None:
    assert authority.grants([A]) == {(A, w): GateRecord(0, True) for w in ALL_WORKLOADS}
    assert authority.deliver(A, at(0)) == dict.fromkeys(ALL_WORKLOADS, 0)


def test_revoke_stops_delivery_and_a_later_grant_resumes_it(
    authority: EmbeddedSiteAuthority,
) -> None:
    assert authority.apply_commands([revoke(1)], now=at(1)) == [ack(revoke(1))]
    assert record(authority) == GateRecord(1, False)
    assert COMPLIANCE not in authority.deliver(A, at(2))
    assert authority.apply_commands([grant(2)], now=at(3)) == [ack(grant(2))]
    delivered = authority.deliver(A, at(4))
    assert delivered[COMPLIANCE] == 2
    assert delivered[Workload.CLIENT_APPS] == 0


def test_duplicates_are_acknowledged_without_change(
    authority: EmbeddedSiteAuthority,
) -> None:
    authority.apply_commands([revoke(1)], now=at(1))
    assert authority.apply_commands([revoke(1)], now=at(2)) == [ack(revoke(1))]
    entries = authority.gate_entries([A])
    assert [(e.record, e.updated_at) for e in entries if e.workload is COMPLIANCE] == [
        (GateRecord(1, False), at(1))
    ]
    assert [type(e) for e in authority.events()] == [RevokeEvent]


def test_lower_epochs_are_stale_and_change_nothing(authority: EmbeddedSiteAuthority) -> None:
    authority.apply_commands([revoke(3)], now=at(1))
    replies = authority.apply_commands([grant(2), revoke(2), grant(0)], now=at(2))
    assert replies == [
        Stale(SITE, A, COMPLIANCE, 2, Op.GRANT, seen_epoch=3, seen_holds=False),
        Stale(SITE, A, COMPLIANCE, 2, Op.REVOKE, seen_epoch=3, seen_holds=False),
        Stale(SITE, A, COMPLIANCE, 0, Op.GRANT, seen_epoch=3, seen_holds=False),
    ]
    assert record(authority) == GateRecord(3, False)


def test_revoke_then_grant_at_one_epoch_and_not_back(authority: EmbeddedSiteAuthority) -> None:
    assert authority.apply_commands([revoke(1), grant(1)], now=at(1)) == [
        ack(revoke(1)),
        ack(grant(1)),
    ]
    assert record(authority) == GateRecord(1, True)
    # A revoke arriving after the grant of its own epoch is an old duplicate.
    [reply] = authority.apply_commands([revoke(1)], now=at(2))
    assert isinstance(reply, Stale)
    assert (reply.seen_epoch, reply.seen_holds) == (1, True)
    assert record(authority) == GateRecord(1, True)


def test_many_commands_in_one_call_reply_in_order(authority: EmbeddedSiteAuthority) -> None:
    office = Workload.OFFICE_APPS
    commands = [
        revoke(2),
        revoke(1, device=B),
        grant(1),  # stale after revoke(2) of the same record
        revoke(1, device=B),  # duplicate
        revoke(4, workload=office),
        grant(3),
    ]
    replies = authority.apply_commands(commands, now=at(1))
    assert [type(r) for r in replies] == [Ack, Ack, Stale, Ack, Ack, Ack]
    assert [(r.device, r.workload, r.epoch, r.op) for r in replies] == [
        (c.device, c.workload, c.epoch, c.op) for c in commands
    ]
    grants = authority.grants([A, B])
    assert grants[(A, COMPLIANCE)] == GateRecord(3, True)
    assert grants[(A, office)] == GateRecord(4, False)
    assert grants[(B, COMPLIANCE)] == GateRecord(1, False)
    assert authority.apply_commands([], now=at(2)) == []


def test_a_misrouted_command_refuses_the_whole_batch(authority: EmbeddedSiteAuthority) -> None:
    cloud_grant = Grant(side=Holder.CLOUD, device=A, workload=COMPLIANCE, epoch=5)
    with pytest.raises(MisroutedCommand):
        authority.apply_commands([revoke(1, device=B), cloud_grant], now=at(1))
    assert record(authority, B) == GateRecord(0, True)
    assert list(authority.events()) == []
    assert authority.published_flags([B]) == {}


def test_devices_are_keyed_by_canonical_smsid(authority: EmbeddedSiteAuthority) -> None:
    for bad in ("dev-1", A.lower(), "GUID:{" + A[5:] + "}", A[5:]):
        with pytest.raises(InvalidSmsId):
            authority.apply_commands([revoke(1, device=bad)], now=at(1))
        with pytest.raises(InvalidSmsId):
            authority.deliver(bad, at(1))
    assert authority.gate_entries() == []


def test_published_flags_follow_the_grants(authority: EmbeddedSiteAuthority) -> None:
    assert authority.published_flags([A]) == {}
    authority.apply_commands([revoke(1, workload=w) for w in ALL_WORKLOADS], now=at(1))
    assert authority.published_flags([A, B]) == {A: 255}
    back = [grant(2, workload=w) for w in ALL_WORKLOADS]
    back = [c for c in back if c.workload not in (COMPLIANCE, Workload.CLIENT_APPS)]
    authority.apply_commands(back, now=at(2))
    assert authority.published_flags([A]) == {A: 67}
    authority.apply_commands(
        [grant(2), grant(2, workload=Workload.CLIENT_APPS), revoke(1, device=B)], now=at(3)
    )
    assert authority.published_flags([A, B]) == {A: 1, B: 3}


def test_a_stale_command_does_not_touch_the_published_flags(
    authority: EmbeddedSiteAuthority,
) -> None:
    authority.apply_commands([revoke(2)], now=at(1))
    authority.apply_commands([grant(1)], now=at(2))
    assert authority.published_flags([A]) == {A: 3}


def test_deliveries_and_commands_are_logged_in_order(authority: EmbeddedSiteAuthority) -> None:
    authority.deliver(A, at(0))
    authority.apply_commands([revoke(1), grant(1, device=B), revoke(0)], now=at(1))
    authority.deliver(A, at(2))
    events = list(authority.events())
    assert [type(e) for e in events[:7]] == [DeliveryEvent] * 7
    assert events[7:9] == [
        RevokeEvent(SITE, A, COMPLIANCE, 1, at(1)),
        GrantEvent(SITE, B, COMPLIANCE, 1, at(1)),
    ]
    assert [(e.workload, e.epoch, e.at) for e in events[9:]] == [
        (w, 0, at(2)) for w in ALL_WORKLOADS if w is not COMPLIANCE
    ]
    assert all(e.side is SITE and e.at.tzinfo is UTC for e in events)
    later = list(authority.deliveries(since=at(1)))
    assert len(later) == 6
    assert all(isinstance(e, DeliveryEvent) and e.at == at(2) for e in later)
    assert len(list(authority.deliveries())) == 13


def test_the_log_is_read_in_pages_without_loss_or_repeat(
    authority: EmbeddedSiteAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "LOG_PAGE", 3)
    for minute in (0, 0, 1):
        authority.deliver(A, at(minute))
    authority.deliver(B, at(1))
    events = list(authority.events())
    assert len(events) == 28
    assert [(e.device, e.at) for e in events] == [(A, at(0))] * 14 + [(A, at(1))] * 7 + [
        (B, at(1))
    ] * 7
    assert [e.workload for e in events[:14]] == list(ALL_WORKLOADS) * 2


def test_the_site_log_satisfies_the_invariant_checker(authority: EmbeddedSiteAuthority) -> None:
    authority.deliver(A, at(0))
    authority.apply_commands([revoke(1)], now=at(1))
    authority.deliver(A, at(2))
    authority.apply_commands([grant(1)], now=at(3))
    authority.deliver(A, at(4))
    authority.apply_commands([revoke(2), grant(1)], now=at(5))
    authority.deliver(A, at(6))
    events = list(authority.events())
    assert check(events) == []
    compliance = [e for e in events if e.workload is COMPLIANCE and isinstance(e, DeliveryEvent)]
    assert [(e.epoch, e.at) for e in compliance] == [(0, at(0)), (1, at(4))]


def test_failures_pass_the_chokepoint(site_url: sa.URL) -> None:
    engine = create_site_engine(site_url)  # never migrated: no cobridge_ tables
    try:
        authority = EmbeddedSiteAuthority(engine)
        with pytest.raises(SiteStoreNotMigrated, match="cobridge_site_gate"):
            authority.grants([A])
        with pytest.raises(SiteStoreNotMigrated) as caught:
            authority.apply_commands([revoke(1)], now=at(1))
        assert caught.value.code == "site_store_not_migrated"
        assert "migrate_site" in str(caught.value)
    finally:
        engine.dispose()


def test_rows_of_an_unknown_workload_are_ignored(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    with site_engine.begin() as conn:
        conn.execute(
            cobridge_site_gate.insert(),
            [
                {
                    "smsid": A,
                    "workload": "cloudPrinting",
                    "epoch": 9,
                    "holds": False,
                    "updated_at": T0.replace(tzinfo=None),
                }
            ],
        )
    authority.apply_commands([revoke(1)], now=at(1))
    assert set(authority.grants([A])) == {(A, w) for w in ALL_WORKLOADS}
    assert authority.published_flags([A]) == {A: 3}
    assert [e.workload for e in authority.gate_entries([A]) if e.record.epoch] == [COMPLIANCE]


def _refuse_log_inserts(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON cobridge_site_authority_log "
                "BEGIN SELECT RAISE(ABORT, 'log refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'log refused'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON cobridge_site_authority_log "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def test_a_failed_write_applies_nothing(
    authority: EmbeddedSiteAuthority, site_engine: sa.Engine
) -> None:
    authority.apply_commands([revoke(1)], now=at(1))
    _refuse_log_inserts(site_engine)
    with pytest.raises(SiteWriteFailed, match="log refused") as caught:
        authority.apply_commands([grant(1), revoke(2, device=B)], now=at(2))
    assert "safe to retry" in str(caught.value)
    assert record(authority) == GateRecord(1, False)
    assert authority.gate_entries([B]) == []
    assert authority.published_flags([A, B]) == {A: 3}
    with pytest.raises(SiteWriteFailed):
        authority.deliver(A, at(3))


def test_the_embedded_site_implements_the_whole_port() -> None:
    members = {
        name
        for protocol in SiteAuthority.__mro__
        if protocol.__module__ == "onprem.site_authority"
        for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_")
    }
    assert {"read_settings", "apply_commands", "deliver", "events", "conflicts"} <= members
    for name in members:
        port = inspect.signature(getattr(SiteAuthority, name))
        implemented = inspect.signature(getattr(EmbeddedSiteAuthority, name))
        assert list(implemented.parameters.values()) == list(port.parameters.values()), name
        assert implemented.return_annotation == port.return_annotation, name
