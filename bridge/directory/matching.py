"""How an AD computer joins a site record: the rules, pure (no directory, no database).

1. Distinguished name: the AD object's DN equals a site record's
   `Distinguished_Name0`, compared case-insensitively. One such record ->
   `dn`; two or more -> `disputed`.
2. Otherwise NetBIOS name + domain: the AD `sAMAccountName` without its
   trailing `$` (the object's name when it has none) against the site's
   `Netbios_Name0` (else `Name0`), and the first label of the DN's `DC=`
   parts against `Resource_Domain_OR_Workgr0`, both case-insensitive.
   Exactly one such record -> `name_domain`; two or more -> `disputed`.
3. No candidate -> `none`: an AD-only computer, "no agent".

Only live site records (not obsolete, not decommissioned) are candidates: a
re-imaged machine's obsolete record must not dispute its successor. A
disputed computer is never linked. A computer deleted from AD whose matched
site record is still live and active is a discrepancy, kept and flagged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.state.directory import DirectoryComputer, MatchResult


@dataclass(frozen=True)
class SiteCandidate:
    """The columns of one site record that matching needs."""

    smsid: str
    dn: str | None
    netbios_name: str | None
    domain: str | None
    live: bool  # neither obsolete nor decommissioned
    reporting: bool  # an active client: Client0 = 1 and Active0 = 1


def domain_of(dn: str) -> str | None:
    """The first label of a DN's `DC=` parts (`CN=A,OU=B,DC=corp,DC=example` -> `corp`)."""
    for part in dn.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().upper() == "DC" and value.strip():
            return value.strip().lower()
    return None


def netbios_of(sam_account_name: str | None, name: str) -> str:
    """The computer's NetBIOS name: sAMAccountName without `$`, else its name; lower case."""
    if sam_account_name:
        return sam_account_name.removesuffix("$").lower()
    return name.lower()


class SiteIndex:
    """Live site records by DN and by (NetBIOS name, domain); all of them by SMSID."""

    def __init__(self, candidates: Iterable[SiteCandidate]) -> None:
        self.by_smsid: dict[str, SiteCandidate] = {}
        self.by_dn: dict[str, list[SiteCandidate]] = {}
        self.by_name: dict[tuple[str, str], list[SiteCandidate]] = {}
        for c in candidates:
            self.by_smsid[c.smsid] = c
            if not c.live:
                continue
            if c.dn:
                self.by_dn.setdefault(c.dn.strip().lower(), []).append(c)
            if c.netbios_name and c.domain:
                key = (c.netbios_name.strip().lower(), c.domain.strip().lower())
                self.by_name.setdefault(key, []).append(c)


def match_computer(computer: DirectoryComputer, index: SiteIndex) -> MatchResult:
    """The situation of one AD computer against the site (see the module's rules)."""
    found = index.by_dn.get(computer.dn.strip().lower(), [])
    how = "dn"
    if not found:
        domain = domain_of(computer.dn)
        netbios = netbios_of(computer.sam_account_name, computer.name)
        found = index.by_name.get((netbios, domain), []) if domain else []
        how = "name_domain"
    if not found:
        return MatchResult(None, "none")
    smsids = tuple(sorted({c.smsid for c in found}))
    if len(smsids) > 1:
        return MatchResult(None, "disputed", candidates=smsids)
    site = found[0]
    # Gone from AD but still reporting to the site: flagged, never a delete.
    discrepancy = computer.deleted_at is not None and site.live and site.reporting
    return MatchResult(site.smsid, how, discrepancy)


def match_all(computers: Iterable[DirectoryComputer], index: SiteIndex) -> dict[str, MatchResult]:
    """Every computer's match, by GUID."""
    return {c.object_guid: match_computer(c, index) for c in computers}
