"""A connector's audit log: the entries its connector signed and chained, as this tenant checked them.

Admins only, like the tenant's audit page that links here. A warning banner
shows the hierarchy's last refused upload (code, message, when, which
connector); a banner says whether the chain read holds ("Chain verified:
..." or "Problem at entry 17: ..."). A hierarchy holds one chain per
installation of its connector: the list shows the current one first, then
those it superseded, each with its span, head and state, each viewable
(`?chain=<id>`). Then the entries newest first, each with its verdict,
paged by sequence ("Older" carries the last one shown), so entries uploaded
while an admin reads never shift a page. Read from
`cloud.store.connector_audit_reads`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from cloud.admin_center.web import PageError, Pages, Visit
from cloud.contract.connector_audit import (
    AuditChainStatus,
    AuditSignerOut,
    ConnectorAuditLogOut,
    ConnectorAuditQuery,
)
from cloud.store import attach as attach_store
from cloud.store.connector_audit_reads import read_page

pages = Pages()
PAGE_SIZE = 50
SHORT = 12  # hex digits of a fingerprint or a chain id shown
CHAIN_ID = re.compile(r"^[0-9a-f]{64}$")


def _entries(count: int) -> str:
    return f"{count:,} entr{'y' if count == 1 else 'ies'}"


def banner(chain: AuditChainStatus, signers: list[AuditSignerOut]) -> tuple[str, str]:
    """(state class, sentence) of the chain status banner."""
    if chain.state == "empty":
        return "empty", "The connector has sent no audit entries yet."
    if chain.state == "failed" and chain.problem is not None:
        through = (
            f"Entries 1 to {chain.verified_through_seq} are verified."
            if chain.verified_through_seq
            else "No entry before it is verified."
        )
        return "failed", f"Problem at entry {chain.problem.seq}: {chain.problem.message}. {through}"
    if chain.state == "pending":
        first = chain.verified_through_seq + 1
        return "pending", (
            f"Not verified from entry {first}: {_entries(chain.pending_entries)} "
            "signed by a key that neither a certificate of this tenant nor a trusted key "
            "vouches for (yet). "
            + (
                f"Entries 1 to {chain.verified_through_seq} are verified."
                if chain.verified_through_seq
                else ""
            )
        ).strip()
    certified = any(
        s.trusted_because and s.trusted_because.startswith("certificate") for s in signers
    )
    vouched = sum(
        s.entries for s in signers if s.trusted_because and s.trusted_because.startswith("vouched")
    )
    by = (
        "signed by the connector's certificate issued by this tenant"
        if certified
        else "signed by keys this tenant trusts"
    )
    tail = (
        f" ({_entries(vouched)} signed before enrollment, vouched for by that key)"
        if vouched
        else ""
    )
    return "verified", f"Chain verified: {_entries(chain.entries)}, {by}{tail}."


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(k), v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
        for k, v in details.items()
    ]


def _before(visit: Visit) -> int | None:
    raw = visit.request.query.get("before", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2**62:
        raise PageError(400, "Not a page", "That link does not name a page of the log.")
    return int(raw)


def _chain(visit: Visit) -> str | None:
    raw = visit.request.query.get("chain", "").strip()
    if not raw:
        return None
    if not CHAIN_ID.match(raw):
        raise PageError(400, "Not a chain", "That link does not name an audit chain.")
    return raw


def _url(base: str, chain: str | None, before: int | None = None) -> str:
    """The page of `chain` (None: the current one), from `before` (None: the newest)."""
    query = {k: v for k, v in (("chain", chain), ("before", before)) if v is not None}
    return f"{base}?{urlencode(query)}" if query else base


@pages.page("GET", "/audit/connector/{hierarchyId}")
async def connector_audit(visit: Visit) -> web.StreamResponse:
    """One hierarchy's connector audit log with its chain status banner, newest first."""
    visit.require_admin()
    hierarchy_id = visit.request.match_info["hierarchyId"]
    before, chain = _before(visit), _chain(visit)
    async with visit.state.engine.connect() as conn:
        hierarchy = None
        if "\x00" not in hierarchy_id:
            hierarchy = await attach_store.get_hierarchy(conn, visit.tenant_id, hierarchy_id)
        if hierarchy is None:
            raise PageError(404, "No such hierarchy", "This tenant has no hierarchy of that id.")
        log: ConnectorAuditLogOut | None = await read_page(
            conn,
            visit.tenant_id,
            hierarchy_id,
            ConnectorAuditQuery(top=PAGE_SIZE, before=before, chain=chain),
        )
    if log is None:
        raise PageError(404, "No such chain", "This hierarchy holds no audit chain of that id.")
    state, sentence = banner(log.chain, log.signers)
    base = f"/audit/connector/{quote(hierarchy_id, safe='')}"
    viewed = None if log.chain.current else log.chain.chain_id
    return visit.render(
        "connector_audit.html",
        hierarchy=hierarchy,
        chain=log.chain,
        chains=[{"c": c, "url": _url(base, None if c.current else c.chain_id)} for c in log.chains],
        refusal=log.last_refusal,
        current_url=base,
        state=state,
        sentence=sentence,
        # Keys sent along without entries of their own (in this chain) are no part of its story.
        signers=[s for s in log.signers if s.entries],
        entries=[{"e": e, "lines": _details(e.details)} for e in log.value],
        short=SHORT,
        newest_url=_url(base, viewed) if before is not None else None,
        older_url=_url(base, viewed, log.next_before) if log.next_before else None,
    )
