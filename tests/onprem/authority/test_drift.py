"""Drift: reported MDMWorkloads against the site's gate (the pure rule, then on every backend)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from onprem.authority.drift import find_drift, reported_cloud_workloads
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_authority import DEFAULT_DRIFT_GRACE, ConflictKind, GateEntry
from onprem.site_schema import v_ClientCoManagementState, v_R_System
from workloads.catalog import Holder, Workload
from workloads.gate import GateRecord
from workloads.messages import Grant, Revoke

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
GRACE = timedelta(hours=2)
LATER = T0 + GRACE
A = "GUID:" + str(uuid.UUID(int=1)).upper()
B = "GUID:" + str(uuid.UUID(int=2)).upper()
C = "GUID:" + str(uuid.UUID(int=3)).upper()
COMPLIANCE, APPS = Workload.COMPLIANCE, Workload.CLIENT_APPS
SITE = Holder.CONFIGMGR


def entry(
    holds: bool, *, epoch: int = 1, workload: Workload = COMPLIANCE, smsid: str = A
) -> GateEntry:
    return GateEntry(smsid, workload, GateRecord(epoch, holds), T0)


def kinds(entries: list[GateEntry], flags: int | None, now: datetime = LATER) -> list[str]:
    return [c.kind.value for c in find_drift(entries, {A: flags}, now=now, grace=GRACE)]


def test_agreement_is_no_conflict() -> None:
    assert kinds([entry(holds=True)], 1) == []
    assert kinds([entry(holds=False)], 1 | 2) == []
    assert kinds([entry(holds=False, workload=APPS), entry(holds=True)], 67 - 2) == []


def test_cloud_applying_what_the_site_holds() -> None:
    [conflict] = find_drift([entry(holds=True, epoch=4)], {A: 67}, now=LATER, grace=GRACE)
    assert conflict.kind is ConflictKind.CLOUD_WHILE_SITE_HOLDS
    assert (conflict.smsid, conflict.workload, conflict.epoch) == (A, COMPLIANCE, 4)
    assert (conflict.reported_flags, conflict.reported_cloud, conflict.site_holds) == (
        67,
        True,
        True,
    )
    assert conflict.since == T0


def test_site_still_applying_what_it_revoked() -> None:
    assert kinds([entry(holds=False)], 1) == ["site_after_revoke"]


def test_a_disagreement_younger_than_the_grace_is_a_report_in_flight() -> None:
    young = LATER - timedelta(seconds=1)
    assert kinds([entry(holds=False)], 1, now=young) == []
    assert kinds([entry(holds=False)], 1, now=LATER) == ["site_after_revoke"]
    assert kinds([entry(holds=False)], 1, now=LATER.replace(tzinfo=None)) == ["site_after_revoke"]


def test_the_initial_record_is_never_drift() -> None:
    assert kinds([entry(holds=True, epoch=0)], 255) == []


def test_unknown_high_bits_are_ignored() -> None:
    assert kinds([entry(holds=True)], 1 | 0x1000 | 0x2000) == []
    assert kinds([entry(holds=False)], 1 | 2 | 0x2000) == []
    assert kinds([entry(holds=False)], 1 | 0x1000 | 0x2000) == ["site_after_revoke"]


def test_a_device_reporting_co_management_not_configured_applies_everything_from_the_site() -> None:
    assert reported_cloud_workloads(2 | 64) == frozenset()
    assert kinds([entry(holds=True)], 2) == []
    assert kinds([entry(holds=False)], 2) == ["site_after_revoke"]


def test_no_report_or_a_broken_one_says_nothing() -> None:
    assert kinds([entry(holds=False)], None) == []
    assert kinds([entry(holds=False)], -1) == []
    assert reported_cloud_workloads(-1) is None
    assert find_drift([entry(holds=False, smsid=B)], {A: 1}, now=LATER, grace=GRACE) == []


def test_conflicts_come_sorted_and_grace_must_not_be_negative() -> None:
    entries = [entry(holds=True, workload=APPS, smsid=B), entry(holds=True), entry(True, smsid=B)]
    found = find_drift(entries, {A: 255, B: 255}, now=LATER, grace=GRACE)
    assert [c.key for c in found] == [(A, COMPLIANCE), (B, COMPLIANCE), (B, APPS)]
    with pytest.raises(ValueError, match="negative"):
        find_drift(entries, {}, now=LATER, grace=-GRACE)


def test_a_conflict_is_an_observed_delivery_for_the_checker() -> None:
    [cloud] = find_drift([entry(holds=True)], {A: 3}, now=LATER, grace=GRACE)
    [site] = find_drift([entry(holds=False)], {A: 1}, now=LATER, grace=GRACE)
    seen = cloud.observed_delivery(LATER)
    assert (seen.side, seen.device, seen.workload, seen.epoch, seen.at) == (
        Holder.CLOUD,
        A,
        COMPLIANCE,
        None,
        LATER,
    )
    assert site.observed_delivery(LATER).side is Holder.CONFIGMGR


# On every backend: reports read from the site's inventory views.


def _report(engine: sa.Engine, rid: int, raw_smsid: str, flags: int | None, **system) -> None:
    with engine.begin() as conn:
        conn.execute(
            v_R_System.insert(),
            [{"ResourceID": rid, "ResourceType": 5, "SMS_Unique_Identifier0": raw_smsid} | system],
        )
        conn.execute(
            v_ClientCoManagementState.insert(), [{"ResourceID": rid, "MDMWorkloads": flags}]
        )


def test_reported_flags_match_smsids_in_any_form(site_engine: sa.Engine) -> None:
    _report(site_engine, 1, " guid:{" + A[5:].lower() + "} ", 67)
    _report(site_engine, 2, B, 1 | 0x2000)
    _report(site_engine, 3, C, None)
    _report(site_engine, 4, "not a guid", 255)
    # A re-imaged machine's obsolete record keeps the SMSID; the live one wins.
    _report(site_engine, 9, B, 255, Obsolete0=1)
    authority = EmbeddedSiteAuthority(site_engine)
    assert authority.reported_flags() == {A: 67, B: 1 | 0x2000}
    assert authority.reported_flags([B, C]) == {B: 1 | 0x2000}


def test_conflicts_from_the_store(site_engine: sa.Engine) -> None:
    authority = EmbeddedSiteAuthority(site_engine)
    _report(site_engine, 1, A, 1 | 2)  # reports compliance on the cloud
    _report(site_engine, 2, B, 1)
    _report(site_engine, 3, C, 1 | 64 | 0x1000)
    authority.apply_commands(
        [
            Revoke(side=SITE, device=A, workload=COMPLIANCE, epoch=1),
            Revoke(side=SITE, device=A, workload=APPS, epoch=1),  # A still reports it on site
            Revoke(side=SITE, device=B, workload=COMPLIANCE, epoch=2),
            Grant(side=SITE, device=B, workload=COMPLIANCE, epoch=2),  # back: agrees
        ],
        now=T0,
    )
    authority.apply_commands(
        [Revoke(side=SITE, device=C, workload=APPS, epoch=1)], now=T0 + timedelta(hours=1)
    )
    found = authority.conflicts(now=T0 + DEFAULT_DRIFT_GRACE)
    assert [(c.smsid, c.workload, c.kind) for c in found] == [
        (A, APPS, ConflictKind.SITE_AFTER_REVOKE)
    ]
    # C's revoke agrees with its report; its other workloads are at epoch 0.
    assert authority.conflicts(now=T0 + timedelta(days=1), smsids=[C]) == []
    # The device reports client apps on the cloud while the site grants them back.
    authority.apply_commands(
        [Grant(side=SITE, device=C, workload=APPS, epoch=2)], now=T0 + timedelta(hours=2)
    )
    late = authority.conflicts(now=T0 + timedelta(hours=4), grace=GRACE, smsids=[A, C])
    assert [(c.smsid, c.workload, c.kind) for c in late] == [
        (A, APPS, ConflictKind.SITE_AFTER_REVOKE),
        (C, APPS, ConflictKind.CLOUD_WHILE_SITE_HOLDS),
    ]
