"""The cloud service's certificate authority: service root, tenant CAs, connector and server certificates.

Hierarchy (DESIGN.md section 9, connector auth):

    service root CA (P-256, 10 y, pathlen 1)
    ├── tenant CA <tenant_id> (P-256, 5 y, pathlen 0, EKU clientAuth)
    │   └── connector certificate (90 d, CN connector_id, SAN URI urn:cobridge:connector:…)
    └── server certificate for the HTTPS listeners (1 y, EKU serverAuth)

The connector listener trusts only the root, so adding a tenant never changes
any worker's trust store. Tenant CAs carry EKU clientAuth: OpenSSL (and most
other verifiers) require every CA in a chain to allow the leaf's purpose, so a
tenant CA can never mint a server certificate that connectors, who trust the
same root for the server, would accept.

Everything here is a pure function of its inputs; time is always passed in.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from workloads.errors import CobridgeError

__all__ = [
    "CertAndKey",
    "CertificateRejected",
    "ConnectorIdentity",
    "CsrRejected",
    "PkiError",
    "check_csr",
    "connector_identity",
    "connector_urn",
    "create_service_root",
    "create_tenant_ca",
    "issue_connector_certificate",
    "issue_server_certificate",
    "key_to_pem",
    "load_cert",
    "load_key",
    "tenant_ca_common_name",
    "to_pem",
    "validate_csr",
    "verify_issued_by",
]

ROOT_DAYS = 3650
TENANT_CA_DAYS = 1826
SERVER_DAYS = 365
CONNECTOR_DAYS = 90
# Issued certificates start slightly in the past so a peer whose clock runs a
# little behind still accepts them.
BACKDATE = timedelta(minutes=5)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
URN_PREFIX = "urn:cobridge:connector:"
# A CSR is a few hundred bytes; anything much larger is not one we want to parse.
MAX_CSR_BYTES = 16 * 1024
_ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
_PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class PkiError(CobridgeError):
    """Base of the PKI's refusals; `code` is set per instance and is stable."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class CsrRejected(PkiError):
    """A certificate signing request the tenant CA will not sign.

    Codes: `malformed_csr`, `bad_signature`, `weak_key`, `unsupported_key`,
    `weak_signature`, `ca_requested`.
    """

    code = "csr_rejected"


class CertificateRejected(PkiError):
    """A certificate that does not prove what it claims.

    Codes: `missing_identity`, `malformed_identity`, `wrong_issuer`,
    `bad_signature`, `expired`, `not_yet_valid`, `revoked` (the last is raised
    by callers that keep the revocation list).
    """

    code = "certificate_rejected"


@dataclass(frozen=True)
class ConnectorIdentity:
    """Who a connector certificate says it is, plus what identifies the certificate itself."""

    tenant_id: str
    hierarchy_id: str
    connector_id: str
    serial_hex: str
    fingerprint_sha256: str
    not_after: datetime


@dataclass(frozen=True)
class CertAndKey:
    """A certificate and its private key (unencrypted in memory; seal the key before storing it)."""

    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return to_pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        """The private key in unencrypted PKCS#8 PEM."""
        return key_to_pem(self.key)


def tenant_ca_common_name(tenant_id: str) -> str:
    """The subject CN of a tenant's CA."""
    return f"cobridge tenant CA {tenant_id}"


def create_service_root(
    now: datetime, *, common_name: str = "cobridge service root CA"
) -> CertAndKey:
    """A new self-signed service root CA (one per deployment)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cobridge"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = _utc(now)
    builder = (
        _base(name, name, key.public_key(), start - BACKDATE, start + timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
    )
    return CertAndKey(builder.sign(key, hashes.SHA256()), key)


def create_tenant_ca(root: CertAndKey, tenant_id: str, now: datetime) -> CertAndKey:
    """A new intermediate CA for one tenant, signed by the service root."""
    _check_id("tenant_id", tenant_id)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cobridge"),
            x509.NameAttribute(NameOID.COMMON_NAME, tenant_ca_common_name(tenant_id)),
        ]
    )
    start = _utc(now)
    builder = (
        _issued(root, subject, key.public_key(), start, TENANT_CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    return CertAndKey(builder.sign(root.key, _hash_for(root.key)), key)


def issue_server_certificate(
    root: CertAndKey, dns_names: list[str], ips: list[str], now: datetime
) -> CertAndKey:
    """A serverAuth certificate for the HTTPS listeners, for the given DNS names and IP addresses."""
    if not dns_names and not ips:
        raise ValueError("a server certificate needs at least one DNS name or IP address")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ip_address(ip)) for ip in ips]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (dns_names or ips)[0])])
    start = _utc(now)
    builder = (
        _issued(root, subject, key.public_key(), start, SERVER_DAYS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key.public_key()), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
    )
    return CertAndKey(builder.sign(root.key, _hash_for(root.key)), key)


def issue_connector_certificate(
    tenant_ca: CertAndKey,
    csr: x509.CertificateSigningRequest,
    *,
    tenant_id: str,
    hierarchy_id: str,
    connector_id: str,
    now: datetime,
    days: int = CONNECTOR_DAYS,
) -> x509.Certificate:
    """Sign a connector's client certificate from its CSR; only the CSR's public key is used.

    The subject and extensions come from the arguments, never from the CSR.
    Raises `CsrRejected` for a CSR `validate_csr` would reject, `ValueError`
    when `tenant_ca` is not the CA of `tenant_id` or an id is malformed.
    """
    for field, value in (
        ("tenant_id", tenant_id),
        ("hierarchy_id", hierarchy_id),
        ("connector_id", connector_id),
    ):
        _check_id(field, value)
    if not 1 <= days <= 825:
        raise ValueError(f"connector certificate validity must be 1..825 days, not {days}")
    cn = tenant_ca.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn or cn[0].value != tenant_ca_common_name(tenant_id):
        raise ValueError(f"the given CA is not the tenant CA of tenant {tenant_id!r}")
    public_key = check_csr(csr)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, connector_id)])
    urn = connector_urn(tenant_id, hierarchy_id, connector_id)
    builder = (
        _issued(tenant_ca, subject, public_key, _utc(now), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(public_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(urn)]), critical=False
        )
    )
    return builder.sign(tenant_ca.key, _hash_for(tenant_ca.key))


def connector_urn(tenant_id: str, hierarchy_id: str, connector_id: str) -> str:
    """The SAN URI that names a connector in its certificate."""
    return f"{URN_PREFIX}{tenant_id}:{hierarchy_id}:{connector_id}"


def validate_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR and check it is one the tenant CA may sign; raise `CsrRejected` if not."""
    if not isinstance(csr_pem, bytes) or len(csr_pem) > MAX_CSR_BYTES:
        raise CsrRejected("malformed_csr", f"a CSR must be PEM bytes of at most {MAX_CSR_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise CsrRejected("malformed_csr", "the CSR is not a PEM-encoded PKCS#10 request") from None
    check_csr(csr)
    return csr


def check_csr(csr: x509.CertificateSigningRequest) -> _PublicKey:
    """Run the checks of `validate_csr` on a parsed CSR; return its (accepted) public key."""
    public_key = _check_public_key(csr)
    try:
        algorithm = csr.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if isinstance(algorithm, hashes.SHA1 | hashes.MD5):
        raise CsrRejected(
            "weak_signature", f"the CSR is signed with {algorithm.name}; use SHA-256 or better"
        )
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise CsrRejected(
            "bad_signature", "the CSR's self-signature does not verify with its public key"
        )
    try:
        constraints = csr.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return public_key
    except ValueError:
        raise CsrRejected("malformed_csr", "the CSR's requested extensions do not parse") from None
    if constraints.ca:
        raise CsrRejected(
            "ca_requested", "the CSR asks to be a CA; connector certificates are never CAs"
        )
    return public_key


def _check_public_key(csr: x509.CertificateSigningRequest) -> _PublicKey:
    hint = "generate an EC P-256 key (or RSA 3072)"
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CsrRejected(
            "unsupported_key", "the CSR's key type is not supported", hint=hint
        ) from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CsrRejected(
                "weak_key", f"RSA {key.key_size}-bit keys are too weak; at least 2048", hint=hint
            )
        if key.key_size > 8192:
            raise CsrRejected(
                "unsupported_key", f"RSA {key.key_size}-bit keys are not supported", hint=hint
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _ACCEPTED_CURVES):
            raise CsrRejected(
                "unsupported_key",
                f"EC curve {key.curve.name} is not supported; use P-256 or P-384",
                hint=hint,
            )
    else:
        kind = type(key).__name__.removeprefix("_").replace("PublicKey", "")
        raise CsrRejected("unsupported_key", f"{kind} keys are not supported", hint=hint)
    return key


def connector_identity(cert: x509.Certificate) -> ConnectorIdentity:
    """Read the connector identity from a certificate's SAN URI; raise `CertificateRejected` if absent."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise CertificateRejected(
            "missing_identity", "the certificate has no subject alternative name"
        ) from None
    except ValueError:
        raise CertificateRejected(
            "malformed_identity", "the certificate's extensions do not parse"
        ) from None
    uris = [
        uri
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(URN_PREFIX)
    ]
    if not uris:
        raise CertificateRejected(
            "missing_identity", f"the certificate names no connector ({URN_PREFIX}...)"
        )
    parts = uris[0].removeprefix(URN_PREFIX).split(":")
    if len(uris) > 1 or len(parts) != 3 or not all(_ID.fullmatch(p) for p in parts):
        raise CertificateRejected(
            "malformed_identity",
            "the certificate's connector URN is not tenant:hierarchy:connector",
        )
    tenant_id, hierarchy_id, connector_id = parts
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cn and cn[0].value != connector_id:
        raise CertificateRejected(
            "malformed_identity", "the certificate's common name differs from its connector URN"
        )
    return ConnectorIdentity(
        tenant_id=tenant_id,
        hierarchy_id=hierarchy_id,
        connector_id=connector_id,
        serial_hex=format(cert.serial_number, "032x"),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_after=cert.not_valid_after_utc,
    )


def verify_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate, *, now: datetime) -> None:
    """Check that `ca_cert` issued `cert` and that both are valid at `now`.

    Raises `CertificateRejected` with code `wrong_issuer`, `bad_signature`,
    `expired` or `not_yet_valid`.
    """
    if cert.issuer != ca_cert.subject:
        raise CertificateRejected(
            "wrong_issuer",
            f"the certificate was issued by {cert.issuer.rfc4514_string()!r}, "
            f"not {ca_cert.subject.rfc4514_string()!r}",
        )
    try:
        is_ca = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        raise CertificateRejected(
            "wrong_issuer", "the certificate or CA lacks basic constraints or key identifiers"
        ) from None
    if not is_ca:
        raise CertificateRejected("wrong_issuer", "the issuing certificate is not a CA")
    if aki.key_identifier != ca_ski.digest:
        raise CertificateRejected(
            "wrong_issuer", "the certificate names another key of an issuer with the same name"
        )
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        raise CertificateRejected(
            "bad_signature", "the certificate's signature does not verify with the CA's key"
        ) from None
    moment = _utc(now)
    for what, checked in (("certificate", cert), ("issuing CA", ca_cert)):
        if moment < checked.not_valid_before_utc:
            raise CertificateRejected(
                "not_yet_valid",
                f"the {what} is valid only from {checked.not_valid_before_utc.isoformat()}",
            )
        if moment > checked.not_valid_after_utc:
            raise CertificateRejected(
                "expired", f"the {what} expired at {checked.not_valid_after_utc.isoformat()}"
            )


def public_key_bytes(key: object) -> bytes:
    """A public key's DER (SubjectPublicKeyInfo), to compare two keys."""
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def to_pem(cert: x509.Certificate) -> bytes:
    """A certificate in PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_to_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """A private key as unencrypted PKCS#8 PEM; callers seal it before it is stored."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> CertificateIssuerPrivateKeyTypes:
    """Load an unencrypted PEM private key that can sign certificates."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def load_cert(pem: bytes) -> x509.Certificate:
    """Load the first certificate of a PEM blob."""
    return x509.load_pem_x509_certificate(pem)


def _utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC, as cryptography itself does.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_id(field: str, value: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(
            f"{field} {value!r} must be 1-128 letters, digits, '.', '_' or '-' "
            "(it is embedded in a URN)"
        )


def _serial() -> int:
    return secrets.randbits(128) or 1


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: _PublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _issued(
    issuer: CertAndKey,
    subject: x509.Name,
    public_key: _PublicKey,
    start: datetime,
    days: int,
) -> x509.CertificateBuilder:
    # A certificate never outlives its issuer: clamp to the issuer's not_after.
    not_after = min(start + timedelta(days=days), issuer.cert.not_valid_after_utc)
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return _base(
        subject, issuer.cert.subject, public_key, start - BACKDATE, not_after
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(public_key: _PublicKey) -> x509.KeyUsage:
    is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        # TLS 1.2 RSA key exchange needs keyEncipherment; ECDH(E) may use keyAgreement.
        key_encipherment=not is_ec,
        data_encipherment=False,
        key_agreement=is_ec,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()
