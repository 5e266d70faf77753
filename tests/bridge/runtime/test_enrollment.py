"""The connector's stored identity: files, modes, renewal timing, unreadable copies."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.runtime.enrollment import (
    CERT_FILE,
    INFO_FILE,
    KEY_FILE,
    ConnectorIdentity,
    EnrollmentError,
    load_identity,
    new_key_and_csr,
    store_identity,
)
from cloud import pki
from cloud.contract.attach import EnrollResponse

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _answer() -> tuple[bytes, EnrollResponse]:
    """A real certificate for a real CSR, signed by a tenant CA of the service's PKI."""
    now = NOW.replace(tzinfo=None)
    root = pki.create_service_root(now)
    tenant_ca = pki.create_tenant_ca(root, "tenant-1", now)
    key_pem, csr = new_key_and_csr("H-PS1")
    issued = pki.issue_connector_certificate(
        tenant_ca,
        pki.validate_csr(csr.encode()),
        tenant_id="tenant-1",
        hierarchy_id="H-PS1",
        connector_id="c-1",
        now=now,
        days=90,
    )
    answer = EnrollResponse(
        tenant_id="tenant-1",
        hierarchy_id="H-PS1",
        connector_id="c-1",
        certificate_pem=pki.to_pem(issued).decode(),
        ca_chain_pem=tenant_ca.cert_pem.decode(),
        not_after=NOW + timedelta(days=90),
    )
    return key_pem, answer


def test_identity_round_trip_with_private_files(tmp_path: Path) -> None:
    assert load_identity(tmp_path) is None
    key_pem, answer = _answer()
    identity = store_identity(tmp_path / "c", key_pem, answer)
    assert identity == load_identity(tmp_path / "c")
    assert identity.key_pem == key_pem
    assert identity.chain_pem.count(b"BEGIN CERTIFICATE") == 2
    for name in (KEY_FILE, CERT_FILE, INFO_FILE):
        assert stat.S_IMODE((tmp_path / "c" / name).stat().st_mode) == 0o600
    assert not list((tmp_path / "c").glob("*.tmp"))


def test_renewal_is_due_in_the_last_third() -> None:
    identity = ConnectorIdentity("t", "h", "c", b"", b"", NOW, NOW + timedelta(days=90))
    assert not identity.due_for_renewal(NOW + timedelta(days=59))
    assert identity.due_for_renewal(NOW + timedelta(days=61))


def test_a_damaged_identity_names_the_files_and_the_way_out(tmp_path: Path) -> None:
    key_pem, answer = _answer()
    store_identity(tmp_path, key_pem, answer)
    (tmp_path / CERT_FILE).write_text("not a certificate")
    with pytest.raises(EnrollmentError) as damaged:
        load_identity(tmp_path)
    assert CERT_FILE in (damaged.value.hint or "")
    assert "attach code" in (damaged.value.hint or "")
