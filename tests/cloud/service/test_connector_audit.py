"""The connector's audit log at the tenant, over real HTTPS: upload, verdicts, refusals, reads.

A batch continues the chain it names and is idempotent; a gap is refused
with the chain's head, a rewritten entry is a conflict; an edited or forged
entry is stored as failed and named by the chain's status; a key the
tenant's CA did not certify stays unverified until a trusted key vouches
for it. A reinstalled connector's new chain becomes the hierarchy's current
one, the old one stays readable and takes no more entries; the last refused
upload is kept. Each tenant sees only its own chains. SQLite and
PostgreSQL, one service per backend for the module.
"""

from __future__ import annotations

import dataclasses
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.tenant.audit import tenant_head
from bridge.tenant.errors import CloudApiError
from cloud.contract.admin import Role
from cloud.contract.audit_chain import GENESIS
from cloud.contract.connector_audit import AuditEntryIn, AuditUpload
from tests.support.cloud_service import RunningService
from tests.support.connector_audit import Chain, enrolled_connector, local_signer, signer_in, wire
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client

MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


async def tenant(service: RunningService) -> str:
    """A new tenant's admin token."""
    return (await service.tenant_with_admin(f"audit-{uuid.uuid4().hex[:8]}"))[1]


def test_a_batch_is_consecutive_and_well_formed() -> None:
    chain = Chain()
    signer = local_signer()
    chain.grow(signer, 3)
    with pytest.raises(ValidationError, match="consecutive"):
        AuditUpload(entries=[*chain.span(1, 1), *chain.span(3, 3)])
    with pytest.raises(ValidationError, match="at most once"):
        AuditUpload(signers=[signer_in(signer)] * 2, entries=chain.span(1, 1))
    with pytest.raises(ValidationError, match="entryHash"):
        AuditEntryIn.model_validate({**chain.span(1, 1)[0].wire(), "entryHash": "XYZ"})
    # The chain is named by its entry 1: implied by a batch starting there, named otherwise.
    assert AuditUpload(entries=chain.span(1, 2)).chain == chain.id
    assert AuditUpload(chain_id=chain.id, entries=chain.span(1, 2)).chain == chain.id
    with pytest.raises(ValidationError, match="chainId is the entry hash"):
        AuditUpload(chain_id="0" * 64, entries=chain.span(1, 2))
    with pytest.raises(ValidationError, match="names the chain"):
        AuditUpload(entries=chain.span(2, 3))
    assert AuditUpload(chain_id=chain.id, entries=chain.span(2, 3)).chain == chain.id


@MODULE
async def test_upload_resend_vouch_and_read(service: RunningService) -> None:
    async with admin_client(service, await tenant(service)) as admin:
        enrolled = await enrolled_connector(service, admin, "H-AUD")
        local, certified = local_signer(), enrolled.signer
        chain = Chain()
        chain.grow(local, 3)  # before enrollment
        chain.hand_over(certified, local)  # entry 4
        chain.grow(certified, 4)  # 5..8
        async with enrolled.client as connector:
            empty = await admin.connector_audit_log("H-AUD")
            assert (empty.chain.state, empty.chain.entries, empty.value) == ("empty", 0, [])

            ack = await connector.send_audit_entries(chain.span(1, 2), [signer_in(local)])
            assert (ack.received, ack.stored) == (2, 2)
            status = ack.chain
            assert (status.state, status.verified_through_seq, status.pending_entries) == (
                "pending",
                0,
                2,
            )
            again = await connector.send_audit_entries(chain.span(1, 2))
            assert (again.stored, again.chain.head_seq) == (0, 2), "a resend changes nothing"

            ack = await connector.send_audit_entries(chain.span(1, 8), [signer_in(certified)])
            assert (ack.received, ack.stored) == (8, 6)
            status = ack.chain
            assert (status.state, status.entries, status.head_seq) == ("verified", 8, 8)
            assert (status.verified_through_seq, status.pending_entries) == (8, 0)
            assert status.head_hash == chain.entries[-1].entry_hash

            page = await admin.connector_audit_log("H-AUD", top=5)
            assert [e.seq for e in page.value] == [8, 7, 6, 5, 4]
            assert page.next_before == 4
            assert {e.status for e in page.value} == {"verified"}
            older = await admin.connector_audit_log("H-AUD", top=5, before=page.next_before)
            assert [e.seq for e in older.value] == [3, 2, 1]
            assert older.next_before is None
            first = older.value[-1]
            sent = chain.entries[0]
            assert (first.actor, first.action, first.details) == (
                sent.actor,
                sent.action,
                sent.details,
            )
            assert (first.at, first.entry_hash, first.signature) == (
                sent.at,
                sent.entry_hash,
                sent.signature,
            )
            why = {s.signer: s for s in page.signers}
            assert why[local.fingerprint].trusted_because == (
                "vouched for by entry 4, signed by its successor"
            )
            assert why[local.fingerprint].entries == 3
            issued = why[certified.fingerprint]
            assert issued.trusted_because == (
                f"certificate of connector {enrolled.connector_id} issued by this tenant's CA"
            )
            assert issued.certificate_subject is not None
            assert enrolled.connector_id in issued.certificate_subject

            # Overlapping a held entry is fine: only what is new is stored.
            chain.grow(certified, 1)
            ack = await connector.send_audit_entries(chain.span(7, 9), chain_id=chain.id)
            assert (ack.stored, ack.chain.head_seq, ack.chain.state) == (1, 9, "verified")


@MODULE
async def test_gaps_conflicts_and_missing_signers_are_refused(service: RunningService) -> None:
    async with admin_client(service, await tenant(service)) as admin:
        enrolled = await enrolled_connector(service, admin, "H-REF")
        signer = enrolled.signer
        chain = Chain()
        chain.grow(signer, 6)
        async with enrolled.client as connector:
            await connector.send_audit_entries(chain.span(1, 3), [signer_in(signer)])

            with pytest.raises(CloudApiError) as gap:
                await connector.send_audit_entries(chain.span(5, 6), chain_id=chain.id)
            assert (gap.value.status, gap.value.code) == (409, "audit_chain_gap")
            assert tenant_head(gap.value) == (3, chain.entries[2].entry_hash)

            # Entry 4 of another history (it follows some other entry 3): refused, not stored.
            other = Chain()
            other.grow(signer, 2)
            other.add(signer, details={"other": True})
            other.add(signer)
            with pytest.raises(CloudApiError) as unlinked:
                await connector.send_audit_entries(other.span(4, 4), chain_id=chain.id)
            assert unlinked.value.code == "audit_chain_gap"
            assert tenant_head(unlinked.value) == (3, chain.entries[2].entry_hash)

            # Entry 2 rewritten (content changed, re-hashed and re-signed): a conflict.
            with pytest.raises(CloudApiError) as conflict:
                await connector.send_audit_entries(other.span(2, 3), chain_id=chain.id)
            assert (conflict.value.status, conflict.value.code) == (409, "audit_chain_conflict")
            assert "entry 3 differs" in conflict.value.server_message

            # A key the tenant does not hold, not sent along.
            stranger = local_signer()
            tail = Chain(list(chain.entries[:3]))
            tail.add(stranger)
            with pytest.raises(CloudApiError) as missing:
                await connector.send_audit_entries(tail.span(4, 4), chain_id=chain.id)
            assert missing.value.code == "audit_signer_missing"
            assert missing.value.details == [{"signer": stranger.fingerprint}]

            # A signer record whose key is not the one its fingerprint names.
            wrong = signer_in(stranger).model_copy(update={"signer": signer.fingerprint})
            with pytest.raises(CloudApiError) as bad:
                await connector.send_audit_entries(chain.span(4, 4), [wrong], chain_id=chain.id)
            assert (bad.value.status, bad.value.code) == (400, "invalid_body")

            log = await admin.connector_audit_log("H-REF")
            assert [e.seq for e in log.value] == [3, 2, 1], "nothing refused was stored"
            assert log.chain.state == "verified"
            # The continuation is still welcome.
            ack = await connector.send_audit_entries(chain.span(4, 6), chain_id=chain.id)
            assert (ack.stored, ack.chain.head_seq, ack.chain.state) == (3, 6, "verified")


@MODULE
async def test_edited_and_forged_entries_are_stored_as_failed(service: RunningService) -> None:
    async with admin_client(service, await tenant(service)) as admin:
        enrolled = await enrolled_connector(service, admin, "H-TAMPER")
        signer, forger = enrolled.signer, local_signer()
        chain = Chain()
        chain.grow(signer, 3)
        chain.add(signer, sign_with=forger)  # 4: signed by another key in the connector's name
        chain.grow(signer, 2)  # 5, 6
        # 2 edited after it was hashed and signed: its hash no longer matches.
        edited = dataclasses.replace(chain.entries[1], details={"n": 2, "slider": "cloud"})
        sent = wire([chain.entries[0], edited, *chain.entries[2:]])
        async with enrolled.client as connector:
            ack = await connector.send_audit_entries(sent, [signer_in(signer)])
        assert ack.stored == 6
        status = ack.chain
        assert (status.state, status.verified_through_seq, status.head_seq) == ("failed", 1, 6)
        assert status.problem is not None
        assert (status.problem.seq, status.problem.kind) == (2, "edited")
        assert status.problem.message == "entry 2 was edited: its content does not match its hash"

        log = await admin.connector_audit_log("H-TAMPER")
        verdicts = {e.seq: (e.status, e.problem.kind if e.problem else None) for e in log.value}
        assert verdicts == {
            6: ("verified", None),
            5: ("verified", None),
            4: ("failed", "bad_signature"),
            3: ("verified", None),
            2: ("failed", "edited"),
            1: ("verified", None),
        }
        assert log.value[-2].details == {"n": 2, "slider": "cloud"}, "stored as sent"


@MODULE
async def test_each_tenant_sees_and_trusts_only_its_own(service: RunningService) -> None:
    token_a, token_b = await tenant(service), await tenant(service)
    async with admin_client(service, token_a) as admin_a, admin_client(service, token_b) as admin_b:
        a = await enrolled_connector(service, admin_a, "H-SAME")
        b = await enrolled_connector(service, admin_b, "H-SAME")
        chain_a, chain_b = Chain(), Chain()
        chain_a.grow(a.signer, 2)
        # B's connector sends entries signed with A's certified key: B's CA did not issue it.
        chain_b.grow(a.signer, 2)
        chain_b.add(b.signer)
        async with a.client as connector_a, b.client as connector_b:
            ack = await connector_a.send_audit_entries(chain_a.span(1, 2), [signer_in(a.signer)])
            assert ack.chain.state == "verified"
            signers = [signer_in(a.signer), signer_in(b.signer)]
            ack = await connector_b.send_audit_entries(chain_b.span(1, 3), signers)
        assert (ack.stored, ack.chain.state, ack.chain.pending_entries) == (3, "pending", 2)
        assert ack.chain.verified_through_seq == 0

        log_a = await admin_a.connector_audit_log("H-SAME")
        assert [e.entry_hash for e in log_a.value] == [e.entry_hash for e in chain_a.entries[::-1]]
        log_b = await admin_b.connector_audit_log("H-SAME")
        assert [e.status for e in log_b.value] == ["verified", "pending", "pending"]
        assert {s.signer: s.trusted_because for s in log_b.signers}[a.signer.fingerprint] is None
        # B's chain copies A's first entries, so both tenants hold a chain of the same id:
        # each tenant reads its own.
        assert chain_b.id == chain_a.id
        assert [c.chain_id for c in log_b.chains] == [chain_b.id]
        named = await admin_a.connector_audit_log("H-SAME", chain=chain_b.id)
        assert (named.chain.entries, len(named.value)) == (2, 2)
        assert [e.entry_hash for e in named.value] == [e.entry_hash for e in log_a.value]

        with pytest.raises(CloudApiError) as unknown:
            await admin_b.connector_audit_log("H-OTHER")
        assert (unknown.value.status, unknown.value.code) == (404, "not_found")
        operator_token = await service.token_for(
            (await admin_a.me()).tenant.tenant_id, f"op-{uuid.uuid4().hex[:6]}", Role.OPERATOR
        )
        async with admin_client(service, operator_token) as operator:
            with pytest.raises(CloudApiError) as refused:
                await operator.connector_audit_log("H-SAME")
        assert (refused.value.status, refused.value.code) == (403, "forbidden")


async def tenant_audit(service: RunningService, token: str, action: str) -> list[dict[str, Any]]:
    """The tenant's own audit entries of `action`, oldest first."""
    async with service.session(token=token).get(f"{service.api_url}/api/v1/auditLog") as r:
        assert r.status == 200, await r.text()
        entries = (await r.json())["value"]
    return [e for e in reversed(entries) if e["action"] == action]


@MODULE
async def test_a_reinstalled_connector_starts_a_new_current_chain(service: RunningService) -> None:
    token = await tenant(service)
    async with AsyncExitStack() as stack:
        admin = await stack.enter_async_context(admin_client(service, token))
        old = await enrolled_connector(service, admin, "H-RE")
        old_chain = Chain()
        old_chain.grow(old.signer, 5)
        old_connector = await stack.enter_async_context(old.client)
        await old_connector.send_audit_entries(old_chain.span(1, 4), [signer_in(old.signer)])
        # Reinstalled: a fresh state store, a new key and certificate, the same hierarchy.
        new = await enrolled_connector(service, admin, "H-RE")
        new_chain = Chain()
        new_chain.grow(new.signer, 3)
        assert new_chain.id != old_chain.id
        new_connector = await stack.enter_async_context(new.client)
        ack = await new_connector.send_audit_entries(new_chain.span(1, 2), [signer_in(new.signer)])
        status = ack.chain
        assert (status.chain_id, status.current, status.state, status.head_seq) == (
            new_chain.id,
            True,
            "verified",
            2,
        )
        assert (ack.stored, status.superseded_at) == (2, None)

        log = await admin.connector_audit_log("H-RE")
        assert log.chain.chain_id == new_chain.id
        assert [e.entry_hash for e in log.value] == [e.entry_hash for e in new_chain.entries[1::-1]]
        assert [c.chain_id for c in log.chains] == [new_chain.id, old_chain.id]
        current, superseded = log.chains
        assert current.current
        assert current.superseded_by is None
        assert not superseded.current
        assert superseded.superseded_by == new_chain.id
        assert superseded.superseded_at is not None
        assert (superseded.state, superseded.entries, superseded.head_seq) == ("verified", 4, 4)
        assert superseded.head_hash == old_chain.entries[3].entry_hash
        assert (superseded.first_at, superseded.last_at) == (
            old_chain.entries[0].at,
            old_chain.entries[3].at,
        )
        assert {s.signer: s.entries for s in log.signers} == {
            old.signer.fingerprint: 0,
            new.signer.fingerprint: 2,
        }, "each key's entries of the chain read"
        assert log.last_refusal is None

        # The superseded chain stays readable, verified, entry by entry.
        kept = await admin.connector_audit_log("H-RE", chain=old_chain.id, top=3)
        assert (kept.chain.chain_id, kept.chain.current, kept.chain.state) == (
            old_chain.id,
            False,
            "verified",
        )
        assert [e.seq for e in kept.value] == [4, 3, 2]
        assert {e.status for e in kept.value} == {"verified"}
        older = await admin.connector_audit_log(
            "H-RE", chain=old_chain.id, top=3, before=kept.next_before
        )
        assert [e.entry_hash for e in older.value] == [old_chain.entries[0].entry_hash]

        # A late upload of the old connector, continuing its chain: refused, and kept.
        with pytest.raises(CloudApiError) as late:
            await old_connector.send_audit_entries(old_chain.span(5, 5), chain_id=old_chain.id)
        assert (late.value.status, late.value.code) == (409, "audit_chain_superseded")
        assert late.value.details is not None
        assert late.value.details[0]["supersededBy"] == new_chain.id
        # Even what the tenant already holds of it (a resend) is not taken any more.
        with pytest.raises(CloudApiError) as resent:
            await old_connector.send_audit_entries(old_chain.span(1, 2))
        assert resent.value.code == "audit_chain_superseded"
        log = await admin.connector_audit_log("H-RE")
        refusal = log.last_refusal
        assert refusal is not None
        assert (refusal.code, refusal.connector_id, refusal.chain_id) == (
            "audit_chain_superseded",
            old.connector_id,
            old_chain.id,
        )
        assert refusal.message == resent.value.server_message
        assert not refusal.accepted_since
        assert [c.head_seq for c in log.chains] == [2, 4], "nothing refused was stored"

        # The new chain goes on; the refusal stays on record, now followed by an accepted upload.
        ack = await new_connector.send_audit_entries(new_chain.span(3, 3), chain_id=new_chain.id)
        assert (ack.stored, ack.chain.head_seq) == (1, 3)
        log = await admin.connector_audit_log("H-RE")
        assert log.last_refusal is not None
        assert log.last_refusal.accepted_since
        assert log.last_refusal.code == "audit_chain_superseded"

        changes = await tenant_audit(service, token, "connector_audit.chain_superseded")
        assert [(c["actor"], c["target"], c["details"]) for c in changes] == [
            (
                f"connector:{new.connector_id}",
                "H-RE",
                {"previous": old_chain.id, "chain": new_chain.id},
            )
        ]
        with pytest.raises(CloudApiError) as unknown:
            await admin.connector_audit_log("H-RE", chain="ab" * 32)
        assert (unknown.value.status, unknown.value.code) == (404, "not_found")


@MODULE
async def test_a_third_chain_supersedes_the_current_one(service: RunningService) -> None:
    async with admin_client(service, await tenant(service)) as admin:
        enrolled = await enrolled_connector(service, admin, "H-THIRD")
        chains = [Chain(), Chain(), Chain()]
        async with enrolled.client as connector:
            for n, chain in enumerate(chains):
                chain.add(enrolled.signer, details={"install": n})
                chain.grow(enrolled.signer, n + 1)
                signers = [signer_in(enrolled.signer)] if n == 0 else []
                await connector.send_audit_entries(chain.span(1, n + 2), signers)
        log = await admin.connector_audit_log("H-THIRD")
        listed = [(c.chain_id, c.current, c.superseded_by, c.head_seq) for c in log.chains]
        assert listed == [
            (chains[2].id, True, None, 4),
            (chains[1].id, False, chains[2].id, 3),
            (chains[0].id, False, chains[1].id, 2),
        ], "the current chain first, then the most recently superseded"
        first, second = log.chains[2], log.chains[1]
        assert first.superseded_at is not None
        assert second.superseded_at is not None
        assert first.superseded_at <= second.superseded_at


@MODULE
async def test_chains_the_tenant_cannot_take_and_refusals_on_record(
    service: RunningService,
) -> None:
    async with admin_client(service, await tenant(service)) as admin:
        enrolled = await enrolled_connector(service, admin, "H-NEW")
        signer = enrolled.signer
        chain = Chain()
        chain.grow(signer, 3)
        async with enrolled.client as connector:
            # A chain the tenant has never seen, sent from its middle: start from entry 1.
            with pytest.raises(CloudApiError) as unknown:
                await connector.send_audit_entries(
                    chain.span(2, 3), [signer_in(signer)], chain_id=chain.id
                )
            assert unknown.value.code == "audit_chain_gap"
            assert tenant_head(unknown.value) == (0, GENESIS)
            assert "no audit chain" in unknown.value.server_message
            log = await admin.connector_audit_log("H-NEW")
            assert (log.chain.state, log.chains) == ("empty", [])
            refusal = log.last_refusal
            assert refusal is not None
            assert (refusal.code, refusal.connector_id, refusal.chain_id) == (
                "audit_chain_gap",
                enrolled.connector_id,
                chain.id,
            )
            assert not refusal.accepted_since

            # An entry 1 whose content does not give its hash cannot name a chain.
            edited = dataclasses.replace(chain.entries[0], details={"n": 1, "edited": True})
            with pytest.raises(CloudApiError) as unsound:
                await connector.send_audit_entries(wire([edited]), [signer_in(signer)])
            assert (unsound.value.status, unsound.value.code) == (400, "invalid_body")
            # An entry 1 that does not link to the genesis hash starts nothing either.
            stray = Chain()
            stray.add(signer)
            unlinked = dataclasses.replace(stray.entries[0], prev_hash="1" * 64)
            with pytest.raises(CloudApiError) as gap:
                await connector.send_audit_entries(wire([unlinked]), [signer_in(signer)])
            assert gap.value.code == "audit_chain_gap"
            log = await admin.connector_audit_log("H-NEW")
            assert log.chains == []
            assert log.last_refusal is not None
            assert log.last_refusal.code == "audit_chain_gap"

            ack = await connector.send_audit_entries(chain.span(1, 3), [signer_in(signer)])
            assert (ack.stored, ack.chain.current, ack.chain.chain_id) == (3, True, chain.id)
        log = await admin.connector_audit_log("H-NEW")
        assert log.last_refusal is not None
        assert log.last_refusal.accepted_since
