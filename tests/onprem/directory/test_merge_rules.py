"""The matching rules of the directory merge, pure: no directory, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bridge.directory import build_directory_pass
from bridge.directory.matching import (
    SiteCandidate,
    SiteIndex,
    domain_of,
    match_all,
    match_computer,
    netbios_of,
)
from bridge.directory.quarantine import quarantine_pass
from bridge.settings_directory import DirectorySettings
from bridge.state import ConnectorState
from bridge.state.directory import DirectoryComputer, MatchResult
from onprem.directory import DirectoryReject

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OU = "OU=Workstations,DC=corp,DC=example,DC=com"


def computer(
    name: str, *, dn: str | None = None, sam: str | None = "", deleted: bool = False
) -> DirectoryComputer:
    return DirectoryComputer(
        object_guid=f"guid-{name}",
        dn=dn or f"CN={name},{OU}",
        name=name,
        sam_account_name=f"{name}$" if sam == "" else sam,
        dns_host_name=None,
        os=None,
        os_version=None,
        last_logon=None,
        disabled=False,
        deleted_at=NOW if deleted else None,
        matched_smsid=None,
        match="none",
        discrepancy=False,
        updated_at=NOW,
    )


def site(
    smsid: str,
    *,
    dn: str | None = None,
    name: str | None = None,
    domain: str | None = "CORP",
    live: bool = True,
    reporting: bool = True,
) -> SiteCandidate:
    return SiteCandidate(smsid, dn, name, domain, live, reporting)


def test_domain_is_the_first_dc_label_and_netbios_drops_the_dollar() -> None:
    assert domain_of(f"CN=WS1,{OU}") == "corp"
    assert domain_of("cn=ws1, ou=x, dc=Lab ,dc=test") == "lab"
    assert domain_of("CN=WS1,OU=Nowhere") is None
    assert netbios_of("WS1$", "ignored") == "ws1"
    assert netbios_of(None, "WS2") == "ws2"


def test_dn_matches_first_case_insensitively() -> None:
    index = SiteIndex([site("A", dn=f"cn=ws1,{OU.lower()}", name="OTHER")])
    assert match_computer(computer("WS1"), index) == MatchResult("A", "dn")


def test_name_and_domain_match_when_the_dn_does_not() -> None:
    index = SiteIndex([site("A", dn="CN=WS1,OU=Elsewhere,DC=corp", name="ws1", domain="corp")])
    assert match_computer(computer("WS1"), index) == MatchResult("A", "name_domain")
    # The same name in another domain is not a candidate.
    other = SiteIndex([site("A", name="WS1", domain="LAB")])
    assert match_computer(computer("WS1"), other) == MatchResult(None, "none")


def test_sam_account_name_is_the_netbios_name_not_the_cn() -> None:
    index = SiteIndex([site("A", name="SHORT")])
    assert match_computer(computer("A-LONG-CN", sam="SHORT$"), index).smsid == "A"


def test_two_candidates_are_disputed_and_never_linked() -> None:
    by_name = SiteIndex([site("A", name="WS1"), site("B", name="WS1")])
    disputed = MatchResult(None, "disputed", candidates=("A", "B"))
    assert match_computer(computer("WS1"), by_name) == disputed
    dn = f"CN=WS1,{OU}"
    by_dn = SiteIndex([site("A", dn=dn), site("B", dn=dn.upper())])
    assert match_computer(computer("WS1"), by_dn) == disputed


def test_obsolete_records_are_not_candidates() -> None:
    # A re-imaged machine: the obsolete record must not dispute its successor.
    index = SiteIndex([site("OLD", name="WS1", live=False), site("NEW", name="WS1")])
    assert match_computer(computer("WS1"), index) == MatchResult("NEW", "name_domain")
    only_obsolete = SiteIndex([site("OLD", name="WS1", live=False)])
    assert match_computer(computer("WS1"), only_obsolete) == MatchResult(None, "none")


def test_no_candidate_is_an_ad_only_computer() -> None:
    assert match_computer(computer("WS1"), SiteIndex([])) == MatchResult(None, "none")


def test_deleted_from_ad_but_still_reporting_is_a_discrepancy() -> None:
    index = SiteIndex(
        [site("A", name="WS1"), site("B", name="WS2", reporting=False), site("C", name="WS3")]
    )
    found = match_all(
        [computer("WS1", deleted=True), computer("WS2", deleted=True), computer("WS3")], index
    )
    assert found["guid-WS1"] == MatchResult("A", "name_domain", discrepancy=True)
    assert found["guid-WS2"] == MatchResult("B", "name_domain", discrepancy=False)
    assert found["guid-WS3"] == MatchResult("C", "name_domain", discrepancy=False)


def test_the_pass_is_built_only_for_an_enabled_directory_section(tmp_path: Path) -> None:
    with ConnectorState.open(None, data_dir=tmp_path) as state:
        site = sa.create_engine("sqlite://")
        assert build_directory_pass(DirectorySettings(), site, state, clock=lambda: NOW) is None


def test_rejects_stay_quarantined_until_seen_valid_or_a_full_pass_misses_them(
    tmp_path: Path,
) -> None:
    guid = uuid.uuid4()
    bad = DirectoryReject("CN=BAD,OU=X,DC=corp", guid, "BAD", "too_long", "name", "300 chars")

    passes = iter(range(100))

    def run(rejects: list[DirectoryReject], seen: list[str], *, full: bool) -> list[str]:
        now = NOW + timedelta(minutes=next(passes))  # each pass at its own time
        with state.transaction() as tx:
            quarantine_pass(
                tx, rejects=rejects, computers=[], matches={}, seen=seen, full=full, now=now
            )
        return [e.name or "" for e in state.quarantine.entries("directory")]

    with ConnectorState.open(None, data_dir=tmp_path) as state:
        assert run([bad], [], full=True) == [str(guid)]
        assert run([], [], full=False) == [str(guid)]  # a delta did not see it: still bad
        assert run([], [str(guid)], full=False) == []  # seen valid
        assert run([bad], [], full=False) == [str(guid)]
        assert run([], [], full=True) == []  # a complete read no longer has it
