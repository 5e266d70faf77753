"""The cloud PKI: root, tenant CAs, connector and server certificates, CSR and issuer checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud.pki import (
    CertAndKey,
    CertificateRejected,
    CsrRejected,
    connector_identity,
    create_service_root,
    create_tenant_ca,
    issue_connector_certificate,
    issue_server_certificate,
    key_to_pem,
    load_cert,
    load_key,
    to_pem,
    validate_csr,
    verify_issued_by,
)

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def make_csr(key: object = None, *, algorithm: object = "sha256", ca: bool = False) -> bytes:
    """A PEM CSR for `key` (a fresh P-256 key by default)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever-the-connector-asks")])
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    hash_ = hashes.SHA256() if algorithm == "sha256" else algorithm
    return builder.sign(key, hash_).public_bytes(serialization.Encoding.PEM)  # type: ignore[arg-type]


def _der_tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        length = bytes([size])
    else:
        octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + body


def sha1_signed_csr() -> bytes:
    """A CSR signed ecdsa-with-SHA1, assembled by hand (cryptography refuses to build one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    tbs = x509.load_pem_x509_csr(make_csr(key)).tbs_certrequest_bytes
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA1()))
    ecdsa_with_sha1 = bytes.fromhex("300906072a8648ce3d0401")
    der = _der_tlv(0x30, tbs + ecdsa_with_sha1 + _der_tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def root() -> CertAndKey:
    return create_service_root(NOW)


@pytest.fixture(scope="module")
def tenant_a(root: CertAndKey) -> CertAndKey:
    return create_tenant_ca(root, "tenant-a", NOW)


@pytest.fixture(scope="module")
def tenant_b(root: CertAndKey) -> CertAndKey:
    return create_tenant_ca(root, "tenant-b", NOW)


def issue(ca: CertAndKey, tenant: str = "tenant-a", **kwargs: object) -> x509.Certificate:
    args: dict = {"hierarchy_id": "PS1", "connector_id": "conn-1", "now": NOW, **kwargs}
    return issue_connector_certificate(ca, validate_csr(make_csr()), tenant_id=tenant, **args)


def test_root_and_tenant_ca_shape(root: CertAndKey, tenant_a: CertAndKey) -> None:
    root_bc = root.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert root_bc.critical
    assert root_bc.value.ca
    assert root_bc.value.path_length == 1
    assert root.cert.not_valid_after_utc - NOW == timedelta(days=3650)
    bc = tenant_a.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.value.ca
    assert bc.value.path_length == 0
    cn = tenant_a.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "cobridge tenant CA tenant-a"
    assert isinstance(tenant_a.key, ec.EllipticCurvePrivateKey)
    assert tenant_a.key.curve.name == "secp256r1"
    assert tenant_a.cert.not_valid_after_utc - NOW == timedelta(days=1826)
    verify_issued_by(tenant_a.cert, root.cert, now=NOW)
    verify_issued_by(root.cert, root.cert, now=NOW)


def test_connector_certificate_shape_and_identity_round_trip(tenant_a: CertAndKey) -> None:
    cert = issue(tenant_a, hierarchy_id="CM1", connector_id="7f3e9c1a-conn")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == ["urn:cobridge:connector:tenant-a:CM1:7f3e9c1a-conn"]
    assert cert.subject.rfc4514_string() == "CN=7f3e9c1a-conn"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert cert.not_valid_after_utc - NOW == timedelta(days=90)

    identity = connector_identity(cert)
    assert (identity.tenant_id, identity.hierarchy_id, identity.connector_id) == (
        "tenant-a",
        "CM1",
        "7f3e9c1a-conn",
    )
    assert identity.serial_hex == f"{cert.serial_number:032x}"
    assert identity.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert identity.not_after == cert.not_valid_after_utc
    verify_issued_by(cert, tenant_a.cert, now=NOW)


def test_serials_are_random_128_bit_and_unique(tenant_a: CertAndKey) -> None:
    csr = validate_csr(make_csr())
    serials = {
        issue_connector_certificate(
            tenant_a, csr, tenant_id="tenant-a", hierarchy_id="PS1", connector_id="c", now=NOW
        ).serial_number
        for _ in range(200)
    }
    assert len(serials) == 200
    assert all(0 < s < 2**128 for s in serials)
    assert max(serials).bit_length() > 120


def test_validity_is_configurable_and_clamped_to_the_issuer(root: CertAndKey) -> None:
    ca = create_tenant_ca(root, "tenant-c", NOW)
    assert issue(ca, "tenant-c", days=7).not_valid_after_utc - NOW == timedelta(days=7)
    late = ca.cert.not_valid_after_utc - timedelta(days=10)
    assert issue(ca, "tenant-c", now=late).not_valid_after_utc == ca.cert.not_valid_after_utc
    with pytest.raises(ValueError, match="validity"):
        issue(ca, "tenant-c", days=0)


def test_tenant_ca_refuses_to_issue_for_another_tenant(tenant_a: CertAndKey) -> None:
    with pytest.raises(ValueError, match="not the tenant CA"):
        issue(tenant_a, "tenant-b")


@pytest.mark.parametrize("bad", ["", "a:b", "has space", "x" * 129, "-leading"])
def test_ids_that_would_break_the_urn_are_refused(tenant_a: CertAndKey, bad: str) -> None:
    with pytest.raises(ValueError, match="connector_id"):
        issue(tenant_a, connector_id=bad)


def test_server_certificate(root: CertAndKey) -> None:
    server = issue_server_certificate(root, ["localhost"], ["127.0.0.1", "::1"], NOW)
    san = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ip_address("127.0.0.1"), ip_address("::1")]
    eku = server.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert server.cert.not_valid_after_utc - NOW == timedelta(days=365)
    verify_issued_by(server.cert, root.cert, now=NOW)
    with pytest.raises(ValueError):
        issue_server_certificate(root, [], [], NOW)


@pytest.mark.parametrize(
    ("csr_pem", "code"),
    [
        (b"not a csr", "malformed_csr"),
        (
            b"-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n",
            "malformed_csr",
        ),
        (b"x" * 20000, "malformed_csr"),
        (make_csr(rsa.generate_private_key(65537, 1024)), "weak_key"),
        (make_csr(dsa.generate_private_key(2048)), "unsupported_key"),
        (make_csr(ed448.Ed448PrivateKey.generate(), algorithm=None), "unsupported_key"),
        (make_csr(ed25519.Ed25519PrivateKey.generate(), algorithm=None), "unsupported_key"),
        (make_csr(ec.generate_private_key(ec.SECP256K1())), "unsupported_key"),
        (make_csr(ec.generate_private_key(ec.SECP521R1())), "unsupported_key"),
        (make_csr(ca=True), "ca_requested"),
        (sha1_signed_csr(), "weak_signature"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_csr_rejections(csr_pem: bytes, code: str) -> None:
    with pytest.raises(CsrRejected) as caught:
        validate_csr(csr_pem)
    assert caught.value.code == code
    assert caught.value.message


def test_csr_with_a_broken_self_signature_is_rejected() -> None:
    der = bytearray(x509.load_pem_x509_csr(make_csr()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature's s value
    pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CsrRejected) as caught:
        validate_csr(pem)
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(65537, 2048),
        rsa.generate_private_key(65537, 3072),
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["rsa2048", "rsa3072", "p256", "p384"],
)
def test_accepted_csr_keys(tenant_a: CertAndKey, key: object) -> None:
    csr = validate_csr(make_csr(key))
    cert = issue_connector_certificate(
        tenant_a, csr, tenant_id="tenant-a", hierarchy_id="PS1", connector_id="c", now=NOW
    )
    assert cert.public_key() == csr.public_key()
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_agreement == isinstance(key, ec.EllipticCurvePrivateKey)


def test_certificate_of_tenant_a_is_not_issued_by_tenant_b(
    tenant_a: CertAndKey, tenant_b: CertAndKey
) -> None:
    with pytest.raises(CertificateRejected) as caught:
        verify_issued_by(issue(tenant_a), tenant_b.cert, now=NOW)
    assert caught.value.code == "wrong_issuer"


def test_same_name_other_key_is_the_wrong_issuer(tenant_a: CertAndKey) -> None:
    other_deployment = create_tenant_ca(create_service_root(NOW), "tenant-a", NOW)
    with pytest.raises(CertificateRejected) as caught:
        verify_issued_by(issue(tenant_a), other_deployment.cert, now=NOW)
    assert caught.value.code == "wrong_issuer"


def test_forged_certificate_naming_the_ca_has_a_bad_signature(tenant_a: CertAndKey) -> None:
    genuine = issue(tenant_a)
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)
        .public_key(genuine.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
        .add_extension(
            genuine.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value, False
        )
        .sign(forger, hashes.SHA256())
    )
    with pytest.raises(CertificateRejected) as caught:
        verify_issued_by(forged, tenant_a.cert, now=NOW)
    assert caught.value.code == "bad_signature"


def test_leaf_is_not_a_ca(tenant_a: CertAndKey) -> None:
    leaf = issue(tenant_a)
    with pytest.raises(CertificateRejected) as caught:
        verify_issued_by(leaf, leaf, now=NOW)
    assert caught.value.code == "wrong_issuer"


def test_validity_window(tenant_a: CertAndKey) -> None:
    cert = issue(tenant_a, days=90)
    verify_issued_by(cert, tenant_a.cert, now=NOW - timedelta(minutes=4))
    verify_issued_by(cert, tenant_a.cert, now=NOW + timedelta(days=89))
    verify_issued_by(cert, tenant_a.cert, now=(NOW + timedelta(days=1)).replace(tzinfo=None))
    with pytest.raises(CertificateRejected) as caught:
        verify_issued_by(cert, tenant_a.cert, now=NOW + timedelta(days=90, seconds=1))
    assert caught.value.code == "expired"
    with pytest.raises(CertificateRejected) as caught:
        verify_issued_by(cert, tenant_a.cert, now=NOW - timedelta(hours=1))
    assert caught.value.code == "not_yet_valid"


def test_connector_identity_requires_the_urn(root: CertAndKey) -> None:
    server = issue_server_certificate(root, ["localhost"], [], NOW)
    with pytest.raises(CertificateRejected) as caught:
        connector_identity(server.cert)
    assert caught.value.code == "missing_identity"
    with pytest.raises(CertificateRejected) as caught:
        connector_identity(root.cert)
    assert caught.value.code == "missing_identity"


@pytest.mark.parametrize(
    "uri",
    [
        "urn:cobridge:connector:tenant-a:PS1",
        "urn:cobridge:connector:tenant-a:PS1:conn-1:extra",
        "urn:cobridge:connector:tenant a:PS1:conn-1",
        "urn:cobridge:connector:tenant-a::conn-1",
    ],
)
def test_connector_identity_rejects_a_malformed_urn(root: CertAndKey, uri: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "conn-1")]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), False)
        .sign(root.key, hashes.SHA256())
    )
    with pytest.raises(CertificateRejected) as caught:
        connector_identity(cert)
    assert caught.value.code == "malformed_identity"


def test_pem_helpers_round_trip(tenant_a: CertAndKey) -> None:
    assert load_cert(to_pem(tenant_a.cert)) == tenant_a.cert
    pem = key_to_pem(tenant_a.key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_key(pem)
    assert loaded.public_key() == tenant_a.key.public_key()
    assert tenant_a.cert_pem == to_pem(tenant_a.cert)
    assert tenant_a.key_pem == pem
    with pytest.raises(ValueError):
        load_key(key_to_pem(ed25519.Ed25519PrivateKey.generate()))  # type: ignore[arg-type]
