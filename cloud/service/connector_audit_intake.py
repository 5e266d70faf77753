"""Taking a connector's audit upload: its chain, continuity, a verdict per entry, trust in its keys.

Under the hierarchy's lock, in one transaction:

0. the batch names its chain (the hash of entry 1). A held chain that was
   superseded takes nothing more (`audit_chain_superseded`). A chain the
   tenant does not hold starts with this batch, which must begin with a
   sound entry 1 linking to the genesis hash (else `audit_chain_gap` with
   head 0, or `invalid_body` for an entry 1 whose content does not give its
   hash, the chain's id); once stored, it is the hierarchy's current chain
   and the one before it is superseded (recorded in the tenant's audit log);
1. entries the chain holds are compared by hash: equal ones are skipped (a
   resend changes nothing), another one is refused (`audit_chain_conflict`);
2. the first new entry must be the head + 1 and link to the head's hash
   (else `audit_chain_gap`, with the chain's head in the error's details);
3. signer records are kept (a key's PEM must give its fingerprint); a key is
   trusted when its certificate was issued by this tenant's CA for this
   tenant and hierarchy; every key the new entries name must be held
   (else `audit_signer_missing`);
4. each new entry gets its verdict (`judge`) and is stored; then
   `audit.signer-changed` entries of trusted keys vouch for the keys they
   name, and pending entries of keys now trusted become verified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud import pki
from cloud.contract.audit_chain import (
    GENESIS,
    AuditEntry,
    certified_by,
    fingerprint,
    load_certificates,
    load_public_key,
    signature_valid,
)
from cloud.contract.connector_audit import AuditSignerIn, AuditUpload, AuditUploadAck
from cloud.service.errors import ApiError
from cloud.store import connector_audit as store
from cloud.store import connector_audit_chains as chains
from cloud.store import tenancy
from cloud.store.connector_audit import StoredSigner, Verdict
from cloud.store.connector_audit_reads import chain_status


def signer_trust(
    record: AuditSignerIn,
    key: ec.EllipticCurvePublicKey,
    ca: x509.Certificate,
    tenant_id: str,
    hierarchy_id: str,
) -> str | None:
    """Why the tenant trusts this key: a certificate its CA issued for this hierarchy; else None."""
    if not record.certificate_pem or certified_by(record.certificate_pem, key, [ca]) is None:
        return None
    try:
        identity = pki.connector_identity(load_certificates(record.certificate_pem)[0])
    except pki.CertificateRejected:
        return None
    if (identity.tenant_id, identity.hierarchy_id) != (tenant_id, hierarchy_id):
        return None
    return f"certificate of connector {identity.connector_id} issued by this tenant's CA"


def judge(
    entries: Sequence[AuditEntry],
    prev_hash: str,
    keys: Mapping[str, ec.EllipticCurvePublicKey],
    trusted: Set[str],
) -> list[Verdict]:
    """The verdict on each new entry, in order, the first linking to `prev_hash`."""
    verdicts = []
    for entry in entries:
        seq, short = entry.seq, entry.signer[:16]
        if entry.computed_hash() != entry.entry_hash:
            verdict = Verdict(
                "failed", "edited", f"entry {seq} was edited: its content does not match its hash"
            )
        elif entry.prev_hash != prev_hash:
            verdict = Verdict(
                "failed",
                "missing",
                f"entry {seq} does not follow entry {seq - 1}: entry {seq - 1} was replaced, "
                "or entries were removed after it",
            )
        elif entry.signer not in keys:
            verdict = Verdict(
                "failed",
                "unknown_signer",
                f"entry {seq} is signed by an unknown signer {short}: its key is not on record",
            )
        elif not signature_valid(keys[entry.signer], entry.entry_hash, entry.signature):
            verdict = Verdict(
                "failed",
                "bad_signature",
                f"entry {seq} has a bad signature: it was changed (and re-hashed) after "
                f"signing, or signed by another key than {short}",
            )
        else:
            verdict = Verdict("verified" if entry.signer in trusted else "pending")
        verdicts.append(verdict)
        prev_hash = entry.entry_hash
    return verdicts


def _gap(message: str, head_seq: int, head_hash: str) -> ApiError:
    return ApiError(
        "audit_chain_gap",
        message,
        target="entries[0]",
        details=[{"headSeq": str(head_seq), "headHash": head_hash}],
    )


async def _chain_head(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, upload: AuditUpload
) -> tuple[int, str, bool]:
    """(head seq, head hash, whether the batch starts it) of the chain the batch names."""
    chain_id = upload.chain
    held = await chains.chain_head(conn, tenant_id, hierarchy_id, chain_id)
    if held is not None and held.superseded_at is not None:
        by = held.superseded_by or ""
        raise ApiError(
            "audit_chain_superseded",
            f"audit chain {chain_id[:16]} was superseded on {held.superseded_at:%Y-%m-%d %H:%M} "
            f"UTC by chain {by[:16]}, which a connector of this hierarchy started: a superseded "
            "chain takes no more entries",
            target="chainId",
            details=[{"supersededBy": by, "supersededAt": held.superseded_at.isoformat()}],
        )
    if held is not None:
        return held.seq, held.head_hash, False
    first = upload.entries[0]
    if first.seq != 1:
        raise _gap(
            f"this tenant holds no audit chain {chain_id[:16]} for this hierarchy: send it "
            "from entry 1",
            0,
            GENESIS,
        )
    if first.prev_hash != GENESIS:
        raise _gap("entry 1 does not link to the genesis hash: a chain starts there", 0, GENESIS)
    if first.chain_entry().computed_hash() != first.entry_hash:
        raise ApiError(
            "invalid_body",
            "entry 1 does not give its hash: a new chain is named by the hash of its entry 1, "
            "so it starts with a sound one",
            target="entries[0]",
        )
    return 0, GENESIS, True


async def _start(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    chain_id: str,
    connector_id: str,
    now: datetime,
) -> None:
    """Make the chain the hierarchy's current one; a supersession goes to the tenant's audit log."""
    previous = await chains.start_chain(conn, tenant_id, hierarchy_id, chain_id, connector_id, now)
    if previous is not None:
        await tenancy.audit(
            conn,
            tenant_id=tenant_id,
            actor=f"connector:{connector_id}",
            action="connector_audit.chain_superseded",
            target=hierarchy_id,
            now=now,
            details={"previous": previous, "chain": chain_id},
        )


async def _held_prefix(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    chain_id: str,
    chain: Sequence[AuditEntry],
    head: int,
) -> list[AuditEntry]:
    """The entries the chain does not hold yet; a held sequence with another hash is refused."""
    if chain[0].seq <= head:
        held = await store.held_hashes(
            conn, tenant_id, hierarchy_id, chain_id, chain[0].seq, min(chain[-1].seq, head)
        )
        for entry in chain:
            if entry.seq <= head and held.get(entry.seq) != entry.entry_hash:
                raise ApiError(
                    "audit_chain_conflict",
                    f"entry {entry.seq} differs from the entry {entry.seq} this tenant holds: "
                    "held entries are never rewritten",
                    target=f"entries[{entry.seq - chain[0].seq}]",
                    details=[{"seq": str(entry.seq), "heldHash": held.get(entry.seq, "")}],
                )
    return [e for e in chain if e.seq > head]


async def _keep_signers(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    records: Sequence[AuditSignerIn],
    now: datetime,
) -> dict[str, StoredSigner]:
    """Store the new signer records (and missing certificates); every held signer after it."""
    held = await store.held_signers(conn, tenant_id, hierarchy_id)
    ca = pki.load_cert((await store.tenant_ca_pem(conn, tenant_id)).encode())
    for index, record in enumerate(records):
        key = load_public_key(record.public_key_pem)
        if key is None or fingerprint(key) != record.signer:
            raise ApiError(
                "invalid_body",
                f"signer {record.signer[:16]}: publicKeyPem is not the EC public key whose "
                "SHA-256 (DER SubjectPublicKeyInfo) is the signer",
                target=f"signers[{index}]",
            )
        known = held.get(record.signer)
        if known is not None and (known.certificate_pem or not record.certificate_pem):
            continue  # held as it is: a key's record is never rewritten
        why = signer_trust(record, key, ca, tenant_id, hierarchy_id)
        kept = StoredSigner(
            record.signer,
            known.kind if known else record.kind,
            known.public_key_pem if known else record.public_key_pem,
            record.certificate_pem,
            why,
            now,
        )
        await store.save_signer(conn, tenant_id, hierarchy_id, kept)
    return await store.held_signers(conn, tenant_id, hierarchy_id)


async def _vouch(
    conn: AsyncConnection, tenant_id: str, hierarchy_id: str, trusted: dict[str, str]
) -> None:
    """Promote pending entries of trusted keys; trust what verified key changes vouch for."""
    while True:
        await store.promote(conn, tenant_id, hierarchy_id, trusted)
        vouched = False
        for seq, signer, text in await store.verified_signer_changes(conn, tenant_id, hierarchy_id):
            previous = json.loads(text).get("previous")
            if signer in trusted and isinstance(previous, str) and previous not in trusted:
                why = f"vouched for by entry {seq}, signed by its successor"
                await store.trust_signer(conn, tenant_id, hierarchy_id, previous, why)
                trusted[previous] = why
                vouched = True
        if not vouched:
            return


async def take_upload(
    conn: AsyncConnection,
    tenant_id: str,
    hierarchy_id: str,
    connector_id: str,
    upload: AuditUpload,
    now: datetime,
) -> AuditUploadAck:
    """Store what the batch adds to the chain it names, judged; that chain's status after it."""
    await chains.lock_hierarchy(conn, tenant_id, hierarchy_id)
    chain_id = upload.chain
    head_seq, head_hash, starts = await _chain_head(conn, tenant_id, hierarchy_id, upload)
    chain = [e.chain_entry() for e in upload.entries]
    fresh = await _held_prefix(conn, tenant_id, hierarchy_id, chain_id, chain, head_seq)
    if fresh and (fresh[0].seq != head_seq + 1 or fresh[0].prev_hash != head_hash):
        what = (
            f"entry {fresh[0].seq} does not link to entry {head_seq}"
            if fresh[0].seq == head_seq + 1
            else f"the batch starts at entry {fresh[0].seq}"
        )
        raise _gap(
            f"{what}: this tenant holds entries of chain {chain_id[:16]} through {head_seq}; "
            f"send entry {head_seq + 1} next, linking to the head's hash",
            head_seq,
            head_hash,
        )
    held = await _keep_signers(conn, tenant_id, hierarchy_id, upload.signers, now)
    missing = sorted({e.signer for e in fresh} - set(held))
    if missing:
        raise ApiError(
            "audit_signer_missing",
            f"send the record of signer {missing[0][:16]} with its entries (its key is not held)",
            target="signers",
            details=[{"signer": s} for s in missing],
        )
    keys = {}
    for fp, record in held.items():
        key = load_public_key(record.public_key_pem)
        if key is not None and fingerprint(key) == fp:
            keys[fp] = key
    trusted = {fp: s.trusted_because for fp, s in held.items() if s.trusted_because}
    verdicts = judge(fresh, head_hash, keys, set(trusted))
    if starts:
        await _start(conn, tenant_id, hierarchy_id, chain_id, connector_id, now)
    judged = list(zip(fresh, verdicts, strict=True))
    await store.insert_entries(conn, tenant_id, hierarchy_id, chain_id, judged, now)
    await _vouch(conn, tenant_id, hierarchy_id, trusted)
    await chains.accepted(conn, tenant_id, hierarchy_id, now)
    status = await chain_status(conn, tenant_id, hierarchy_id, chain_id)
    assert status is not None  # the chain was held or has just been started
    return AuditUploadAck(received=len(chain), stored=len(fresh), chain=status)
