"""Who signs the audit chain: a local key before enrollment, then each enrolled key in turn.

Keys rotate with every certificate renewal; every entry stays verifiable on
the host (its keys, its tenant CA) and, from an export, by a tenant that
knows only its own CA. Export files are read strictly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.audit import (
    SIGNER_CHANGED,
    AuditEvent,
    AuditExportError,
    TrustAnchors,
    append,
    export_lines,
    load_signer,
    read_chain,
    read_export,
    verify_entries,
    verify_export,
    verify_state,
)
from bridge.runtime.enrollment import EnrollmentError, new_key_and_csr, store_identity
from bridge.state import ConnectorState
from cloud.contract.attach import EnrollResponse
from cloud.pki import (
    CertAndKey,
    create_service_root,
    create_tenant_ca,
    issue_connector_certificate,
    to_pem,
    validate_csr,
)

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def root() -> CertAndKey:
    """The service's root CA."""
    return create_service_root(NOW)


@pytest.fixture(scope="module")
def tenant_ca(root: CertAndKey) -> CertAndKey:
    """The tenant's CA, which issues the connector's certificates."""
    return create_tenant_ca(root, "t1", NOW)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The connector's data directory."""
    return tmp_path / "connector"


@pytest.fixture
def state(data_dir: Path) -> Iterator[ConnectorState]:
    """A migrated, empty connector state (SQLite)."""
    with ConnectorState.open(None, data_dir=data_dir) as opened:
        yield opened


def enroll(data_dir: Path, ca: CertAndKey, root: CertAndKey) -> None:
    """Store an identity with a new key, as enrollment and each renewal do."""
    key_pem, csr = new_key_and_csr("H-PS1")
    cert = issue_connector_certificate(
        ca,
        validate_csr(csr.encode()),
        tenant_id="t1",
        hierarchy_id="H-PS1",
        connector_id="c1",
        now=NOW,
    )
    answer = EnrollResponse(
        tenant_id="t1",
        hierarchy_id="H-PS1",
        connector_id="c1",
        certificate_pem=to_pem(cert).decode(),
        ca_chain_pem=(ca.cert_pem + root.cert_pem).decode(),
        not_after=cert.not_valid_after_utc,
    )
    store_identity(data_dir, key_pem, answer)


def record(state: ConnectorState, data_dir: Path, *numbers: int) -> None:
    """Append one entry per number with the signer now in force."""
    signer = load_signer(data_dir)
    for n in numbers:
        append(
            state,
            signer,
            AuditEvent("cli:ana", "workload.set", "compliancePolicy", {"n": n}),
            now=NOW + timedelta(minutes=n),
        )


@pytest.fixture
def rotated(
    state: ConnectorState, data_dir: Path, tenant_ca: CertAndKey, root: CertAndKey
) -> ConnectorState:
    """Two entries before enrollment, two after it, two after a renewal."""
    record(state, data_dir, 1, 2)
    enroll(data_dir, tenant_ca, root)
    record(state, data_dir, 3, 4)
    enroll(data_dir, tenant_ca, root)
    record(state, data_dir, 5, 6)
    return state


def test_each_new_signer_is_introduced_in_the_chain(rotated: ConnectorState) -> None:
    entries, signers = read_chain(rotated)
    assert [(e.action, e.details.get("n")) for e in entries] == [
        ("workload.set", 1),
        ("workload.set", 2),
        (SIGNER_CHANGED, None),
        ("workload.set", 3),
        ("workload.set", 4),
        (SIGNER_CHANGED, None),
        ("workload.set", 5),
        ("workload.set", 6),
    ]
    local, first, second = dict.fromkeys(e.signer for e in entries)
    assert [signers[s].kind for s in (local, first, second)] == ["local", "connector", "connector"]
    assert signers[local].certificate_pem is None
    assert None not in (signers[first].certificate_pem, signers[second].certificate_pem)
    assert entries[2].details == {"previous": local, "kind": "connector"}
    assert (entries[2].signer, entries[2].target) == (first, first)
    assert entries[5].details["previous"] == first


def test_rotated_keys_stay_verifiable_on_the_host(rotated: ConnectorState, data_dir: Path) -> None:
    report = verify_state(rotated, data_dir)
    assert report.ok, report.describe()
    assert report.count == 8
    reasons = [s.trusted_because for s in report.signers]
    assert reasons[0] == "this host's local audit key"
    assert reasons[1] == "certified by CN=cobridge tenant CA t1,O=cobridge"
    assert reasons[2] == "this host's connector key"
    # Without the local key file, the first enrolled key's entry still vouches for it.
    (data_dir / "audit.key").unlink()
    report = verify_state(rotated, data_dir)
    assert report.ok, report.describe()
    assert report.signers[0].trusted_because == "vouched for by entry 3, signed by its successor"


def test_a_tenant_verifies_an_export_with_its_ca_alone(
    rotated: ConnectorState, tmp_path: Path, tenant_ca: CertAndKey, root: CertAndKey
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(export_lines(*read_chain(rotated))) + "\n", encoding="utf-8")
    entries, signers = read_export(path)
    assert len(entries) == 8
    assert len(signers) == 3
    report = verify_entries(entries, signers, TrustAnchors(authorities=[tenant_ca.cert]))
    assert report.ok, report.describe()
    assert all(s.trusted_because for s in report.signers)

    # Another tenant's CA vouches for nothing; an export listing a signer is no trust.
    other = create_tenant_ca(root, "t2", NOW)
    refused = verify_entries(entries, signers, TrustAnchors(authorities=[other.cert]))
    assert refused.problem is not None
    assert (refused.problem.seq, refused.problem.kind) == (1, "unknown_signer")
    assert verify_entries(entries, signers, TrustAnchors()).problem.kind == "unknown_signer"  # type: ignore[union-attr]


def test_an_edited_export_is_named_at_its_entry(
    rotated: ConnectorState, tmp_path: Path, data_dir: Path
) -> None:
    lines = list(export_lines(*read_chain(rotated)))
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert verify_export(path, data_dir).ok
    header, rest = json.loads(lines[0]), lines[1:]
    assert header["head"]["seq"] == 8
    edited = []
    for line in rest:
        obj = json.loads(line)
        if obj.get("entry", {}).get("seq") == 5:
            obj["entry"]["details"]["n"] = 40
        edited.append(json.dumps(obj))
    path.write_text("\n".join([lines[0], *edited]) + "\n", encoding="utf-8")
    problem = verify_export(path, data_dir).problem
    assert problem is not None
    assert problem.message == "entry 5 was edited: its content does not match its hash"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ('{"format": "something-else", "version": 1}\n', "not a cobridge audit export"),
        ('{"format": "cobridge-audit-export", "version": 1}\nnot json\n', "line 2 of .* JSON"),
        (
            '{"format": "cobridge-audit-export", "version": 1}\n{"entry": {"v": 1, "seq": 1}}\n',
            "line 2 of .*'actor' is missing",
        ),
        ('{"format": "cobridge-audit-export", "version": 1}\n{"other": 1}\n', "neither"),
    ],
)
def test_unreadable_exports_are_refused_naming_the_line(
    tmp_path: Path, data_dir: Path, content: str, expected: str
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AuditExportError, match=expected):
        verify_export(path, data_dir)


def test_an_unreadable_signing_key_refuses_instead_of_signing(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "audit.key").write_text("not a key")
    with pytest.raises(EnrollmentError, match=r"audit\.key is unreadable") as refused:
        load_signer(data_dir)
    assert "nothing was changed" in (refused.value.hint or "")


def test_the_local_key_is_made_once_and_kept(data_dir: Path) -> None:
    first = load_signer(data_dir)
    assert load_signer(data_dir).fingerprint == first.fingerprint
    assert [p.name for p in data_dir.iterdir()] == ["audit.key"]
