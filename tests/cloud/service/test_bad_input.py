"""Bad input to the cloud service: every refusal is a clear JSON 4xx and nothing is half-written.

Oversize, truncated and malformed bodies, wrong content types, unknown paths
and methods, missing, garbage, expired and revoked bearer tokens, invalid
batches (all-or-nothing), bad CSRs and attach codes, expired and revoked
connector certificates, and the per-connector rate limit. Every error body
must be `{"error": {"code", "message"}}` with a stable code of
`cloud.contract.errors.ERROR_CODES` that matches the HTTP status.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cloud import pki
from cloud.contract import tls
from cloud.contract.admin import Role
from cloud.contract.errors import ERROR_CODES
from cloud.store.schema import cloud_metadata, connectors
from tests.support.cloud_service import RunningService, new_key_and_csr, start_service
from tests.support.raw_http import raw_request
from tests.support.service_fixtures import shared_service
from tests.support.store_records import record

MODULE = pytest.mark.asyncio(loop_scope="module")
TENANT_TABLES = [t for t in cloud_metadata.sorted_tables if "tenant_id" in t.c]
_counter = itertools.count(1)


# ---------------------------------------------------------------------------
# Fixtures: one store per backend, a default service and a tight one over it


service = shared_service  # default settings; `tight` shares its data directory


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tight(
    module_store: tuple[sa.URL, sa.URL], service_data_dir: Path, service: RunningService
) -> AsyncIterator[RunningService]:
    """A second service over the same store: bodies up to 1 MiB, 3 connector calls a minute."""
    async for running in start_service(
        module_store, service_data_dir, max_body_mb=1, connector_rate_per_minute=3
    ):
        yield running


# ---------------------------------------------------------------------------
# Helpers


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    content_type: str
    text: str

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.text)


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: Any = None,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Answer:
    """Send one request (a JSON `body`, or raw `data`) and read the whole answer."""
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if body is not None:
        kwargs["json"] = body
    if data is not None:
        kwargs["data"] = data
    async with session.request(method, url, **kwargs) as r:
        return Answer(r.status, dict(r.headers), r.content_type, await r.text())


def error_problem(answer: Answer, status: int, code: str | None = None) -> str | None:
    """None if `answer` is a well-formed JSON error with `status` (and `code`), else why not."""
    where = f"{answer.status} {answer.text[:300]!r}"
    if answer.status != status:
        return f"status {answer.status}, expected {status}: {where}"
    if answer.content_type != "application/json":
        return f"content type {answer.content_type}: {where}"
    try:
        body = answer.json()
    except ValueError:
        return f"not JSON: {where}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(body) != {"error"}:
        return f"not {{'error': {{...}}}}: {where}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"no message: {where}"
    if error.get("code") not in ERROR_CODES:
        return f"code {error.get('code')!r} is not a stable code: {where}"
    if ERROR_CODES[error["code"]] != status:
        return f"code {error['code']!r} belongs to {ERROR_CODES[error['code']]}: {where}"
    if code is not None and error["code"] != code:
        return f"code {error['code']!r}, expected {code!r}: {where}"
    return None


def assert_error(answer: Answer, status: int, code: str | None = None) -> dict[str, Any]:
    """Insist on a well-formed JSON error; its `error` object."""
    problem = error_problem(answer, status, code)
    assert problem is None, problem
    return answer.json()["error"]


async def snapshot(service: RunningService, tenant_id: str) -> dict[str, list[str]]:
    """Every row of the tenant in every tenant-scoped table (token use times left out)."""
    out: dict[str, list[str]] = {}
    async with service.state.engine.connect() as conn:
        for table in TENANT_TABLES:
            cols = [c for c in table.c if (table.name, c.name) != ("api_tokens", "last_used_at")]
            rows = (
                await conn.execute(sa.select(*cols).where(table.c.tenant_id == tenant_id))
            ).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


def changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, int]:
    """Tables whose rows changed, with the number of rows added or changed."""
    return {
        name: len(set(after[name]) - set(before[name]))
        for name in before
        if before[name] != after[name]
    }


@dataclass
class Tenant:
    """A tenant with an admin session."""

    tenant_id: str
    token: str
    admin: aiohttp.ClientSession


async def new_tenant(service: RunningService) -> Tenant:
    """A fresh tenant with an admin token."""
    tenant_id, token = await service.tenant_with_admin(
        f"bad-{next(_counter)}-{uuid.uuid4().hex[:6]}"
    )
    return Tenant(tenant_id, token, service.session(token=token))


async def attach_code(service: RunningService, tenant: Tenant, **body: Any) -> str:
    """A new attach code of the tenant."""
    answer = await send(tenant.admin, "POST", f"{service.api_url}/api/v1/attachCodes", body=body)
    assert answer.status == 201, answer.text
    return answer.json()["code"]


def enroll_body(code: str, csr: str, hierarchy_id: str = "H-BAD") -> dict[str, Any]:
    """An enrollment request."""
    return {"attachCode": code, "csrPem": csr, "hierarchyId": hierarchy_id, "siteCode": "BAD"}


@dataclass
class Connector:
    """An enrolled connector: its enrollment answer and a session with its certificate."""

    enrolled: dict[str, Any]
    session: aiohttp.ClientSession
    certificate: x509.Certificate


async def enrolled_connector(
    service: RunningService, tenant: Tenant, *, register: bool = True, hierarchy_id: str = "H-BAD"
) -> Connector:
    """Enroll (and register) a new connector of the tenant."""
    key_pem, csr = new_key_and_csr()
    code = await attach_code(service, tenant)
    answer = await send(
        service.session(),
        "POST",
        f"{service.connector_url}/connector/v1/enroll",
        body=enroll_body(code, csr, hierarchy_id),
    )
    assert answer.status == 201, answer.text
    enrolled = answer.json()
    chain = (enrolled["certificatePem"] + enrolled["caChainPem"]).encode()
    session = service.session(ssl_context=tls.client_context(service.root_pem, chain, key_pem))
    if register:
        answer = await send(
            session,
            "PUT",
            f"{service.connector_url}/connector/v1/hierarchy",
            body={"hierarchyId": hierarchy_id, "siteCode": "BAD"},
        )
        assert answer.status == 200, answer.text
    cert = pki.load_cert(enrolled["certificatePem"].encode())
    return Connector(enrolled, session, cert)


def ingest_batch(hierarchy_id: str, sequence: int, upserts: list[dict[str, Any]]) -> dict[str, Any]:
    """A wire ingest batch with a fresh id."""
    return {
        "batchId": str(uuid.uuid4()),
        "hierarchyId": hierarchy_id,
        "sequence": sequence,
        "upserts": upserts,
    }


def _der(tag: int, body: bytes) -> bytes:
    """One DER TLV."""
    n = len(body)
    length = (
        bytes([n])
        if n < 128
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + body


def _csr_pem(der: bytes) -> str:
    """A DER CSR as PEM."""
    b64 = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"


def resigned_csr(*, sha1: bool = False, tamper: bool = False) -> str:
    """A P-256 CSR re-signed by hand: with ECDSA-SHA1, or with a signature over other bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connector")])
    tbs = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    info = tbs.tbs_certrequest_bytes
    digest = hashes.SHA1() if sha1 else hashes.SHA256()
    signature = key.sign(info + (b"tampered" if tamper else b""), ec.ECDSA(digest))
    oid = "06072a8648ce3d0401" if sha1 else "06082a8648ce3d040302"  # ecdsa-with-SHA1 / SHA256
    algorithm = _der(0x30, bytes.fromhex(oid))
    return _csr_pem(_der(0x30, info + algorithm + _der(0x03, b"\x00" + signature)))


def built_csr(key: Any, *, ca: bool = False, common_name: str = "connector", san: str = "") -> str:
    """A CSR for `key` (optionally asking to be a CA, or naming someone else)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


# ---------------------------------------------------------------------------
# Bodies


@MODULE
async def test_oversize_bodies_are_413_and_write_nothing(tight: RunningService) -> None:
    tenant = await new_tenant(tight)
    admin = tight.session(token=tenant.token)
    before = await snapshot(tight, tenant.tenant_id)
    big = {"name": "big", "padding": "x" * (1536 * 1024)}
    answer = await send(admin, "POST", f"{tight.api_url}/api/v1/tokens", body=big)
    error = assert_error(answer, 413, "payload_too_large")
    assert "1 MiB" in error["message"]
    assert changes(before, await snapshot(tight, tenant.tenant_id)) == {}
    # A gzip body that is small on the wire but inflates past the limit.
    connector = await enrolled_connector(tight, tenant)
    before = await snapshot(tight, tenant.tenant_id)
    batch = ingest_batch("H-BAD", 1, [record(1).wire()])
    inflated = json.dumps(batch).replace("{", "{" + " " * (1024 * 1024), 1).encode()
    answer = await send(
        connector.session,
        "POST",
        f"{tight.connector_url}/connector/v1/ingest",
        data=gzip.compress(inflated),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_error(answer, 413, "payload_too_large")
    assert changes(before, await snapshot(tight, tenant.tenant_id)) == {}


async def _bad_gzip(service: RunningService, bodies: dict[str, bytes]) -> list[str]:
    """Send each gzip body as an ingest; what was not a JSON 400, or wrote anything."""
    tenant = await new_tenant(service)
    connector = await enrolled_connector(service, tenant)
    url = f"{service.connector_url}/connector/v1/ingest"
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    failures = []
    for what, data in bodies.items():
        before = await snapshot(service, tenant.tenant_id)
        answer = await send(connector.session, "POST", url, data=data, headers=headers)
        if problem := error_problem(answer, 400):
            failures.append(f"gzip body {what}: {problem}")
        if diff := changes(before, await snapshot(service, tenant.tenant_id)):
            failures.append(f"gzip body {what} wrote {diff}")
    return failures


def _gzip_batch() -> bytes:
    """A whole, valid gzip-compressed ingest batch."""
    batch = ingest_batch("H-BAD", 1, [record(n).wire() for n in range(1, 40)])
    return gzip.compress(json.dumps(batch).encode())


@MODULE
async def test_truncated_gzip_bodies_are_400_and_write_nothing(service: RunningService) -> None:
    whole = _gzip_batch()
    failures = await _bad_gzip(
        service,
        {
            "cut in half": whole[: len(whole) // 2],
            "with only its header": whole[:10],
            # All the deflate data, but the CRC-32 and length trailer cut off: the
            # stream is incomplete and its integrity unchecked.
            "without its 8-byte trailer": whole[:-8],
        },
    )
    assert not failures, "\n".join(failures)


@MODULE
async def test_corrupt_gzip_bodies_are_400_not_500(service: RunningService) -> None:
    whole = _gzip_batch()
    flipped = bytearray(whole)
    flipped[len(flipped) // 2] ^= 0xFF
    failures = await _bad_gzip(
        service,
        {
            "that is not gzip at all": b"this is not gzip" * 10,
            "with a corrupted byte in the middle": bytes(flipped),
        },
    )
    assert not failures, "\n".join(failures)


@MODULE
async def test_malformed_and_misshapen_json_is_400_invalid_body(service: RunningService) -> None:
    tenant = await new_tenant(service)
    before = await snapshot(service, tenant.tenant_id)
    url = f"{service.api_url}/api/v1/principals"
    json_type = {"Content-Type": "application/json"}
    for data in (b"{", b"", b"{'name': 'x'}", b'{"name": "x",}', b"\xff\xfe\x00garbage", b"[1, 2"):
        answer = await send(tenant.admin, "POST", url, data=data, headers=json_type)
        assert_error(answer, 400, "invalid_body")
    # Valid JSON of the wrong shape: the details name the wire fields.
    cases: list[tuple[Any, set[str]]] = [
        ({"name": 5, "role": "viewer"}, {"name"}),
        ({"role": "viewer"}, {"name"}),
        ({"name": "x", "role": "superuser"}, {"role"}),
        ({"name": "x", "role": "viewer", "extra": 1}, {"extra"}),
        ({"name": "", "role": "viewer"}, {"name"}),
        ({"name": "bad\nname", "role": "viewer"}, {"name"}),
        ([{"name": "x", "role": "viewer"}], {"(body)"}),
        ("x", {"(body)"}),
        (None, {"(body)"}),
    ]
    for body, fields in cases:
        data = json.dumps(body).encode()
        answer = await send(tenant.admin, "POST", url, data=data, headers=json_type)
        error = assert_error(answer, 400, "invalid_body")
        named = {d["field"] for d in error.get("details", [])}
        assert fields <= named, (body, error)
        assert all(isinstance(d.get("problem"), str) for d in error["details"]), error
    answer = await send(
        tenant.admin,
        "POST",
        f"{service.api_url}/api/v1/tokens",
        body={"name": "t", "expiresInDays": 0},
    )
    error = assert_error(answer, 400, "invalid_body")
    assert [d["field"] for d in error["details"]] == ["expiresInDays"]
    assert changes(before, await snapshot(service, tenant.tenant_id)) == {}
    # Nested fields are named by their path.
    connector = await enrolled_connector(service, tenant)
    batch = ingest_batch("H-BAD", 1, [record(1).wire(), {**record(2).wire(), "smsid": "nope"}])
    answer = await send(
        connector.session, "POST", f"{service.connector_url}/connector/v1/ingest", body=batch
    )
    error = assert_error(answer, 400, "invalid_body")
    assert "upserts.1.smsid" in {d["field"] for d in error["details"]}, error
    # Wrong content types are 415, whatever the body.
    before_ct = await snapshot(service, tenant.tenant_id)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        answer = await send(
            tenant.admin,
            "POST",
            url,
            data=json.dumps({"name": "ct", "role": "viewer"}),
            headers={"Content-Type": content_type},
        )
        assert_error(answer, 415, "unsupported_media_type")
    answer = await send(tenant.admin, "POST", url)  # no body, no content type
    assert_error(answer, 415, "unsupported_media_type")
    assert changes(before_ct, await snapshot(service, tenant.tenant_id)) == {}
    # JSON with a charset parameter is still JSON.
    answer = await send(
        tenant.admin,
        "POST",
        url,
        data=json.dumps({"name": "charset-ok", "role": "viewer"}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.status == 201, answer.text


@MODULE
async def test_unknown_paths_methods_and_queries_are_json_errors(service: RunningService) -> None:
    tenant = await new_tenant(service)
    for base in (service.api_url, service.connector_url):
        for method, path in (("GET", "/nowhere"), ("POST", "/api/v2/devices"), ("GET", "/")):
            if (base, path) == (service.api_url, "/"):
                continue  # the API listener's root is the admin center's entry page
            answer = await send(tenant.admin, method, base + path)
            assert_error(answer, 404, "not_found")
    for method, path in (
        ("DELETE", "/healthz"),
        ("PUT", "/api/v1/devices"),
        ("PATCH", "/api/v1/tokens"),
        ("GET", "/api/v1/connectors/x/revoke"),
    ):
        answer = await send(tenant.admin, method, service.api_url + path)
        assert_error(answer, 405, "method_not_allowed")
    answer = await send(tenant.admin, "GET", f"{service.connector_url}/connector/v1/ingest")
    assert_error(answer, 405, "method_not_allowed")
    devices = f"{service.api_url}/api/v1/devices"
    for params, field in (
        ({"$top": "0"}, "$top"),
        ({"$top": "many"}, "$top"),
        ({"managedBy": "Nobody"}, "managedBy"),
        ({"lastActiveBefore": "yesterday"}, "lastActiveBefore"),
    ):
        answer = await send(tenant.admin, "GET", devices, params=params)
        error = assert_error(answer, 400, "invalid_query")
        assert field in {d["field"] for d in error.get("details", [])}, error
    for params in ({"$orderby": "password"}, {"$skiptoken": "not-a-token"}):
        answer = await send(tenant.admin, "GET", devices, params=params)
        assert_error(answer, 400, "invalid_query")


@MODULE
async def test_405_names_the_allowed_methods(service: RunningService) -> None:
    # RFC 9110 section 15.5.6: a 405 response MUST carry an Allow header.
    answer = await send(service.session(), "DELETE", f"{service.api_url}/healthz")
    assert_error(answer, 405, "method_not_allowed")
    assert "GET" in answer.headers.get("Allow", ""), answer.headers


# ---------------------------------------------------------------------------
# Bearer tokens


@MODULE
async def test_missing_garbage_expired_and_revoked_tokens_are_401(service: RunningService) -> None:
    tenant = await new_tenant(service)
    url = f"{service.api_url}/api/v1/me"
    plain = service.session()
    answer = await send(plain, "GET", url)
    assert_error(answer, 401, "unauthenticated")
    assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer")
    token_id = tenant.token.split("_")[1]
    for header in (
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        tenant.token,  # no scheme
    ):
        answer = await send(plain, "GET", url, headers={"Authorization": header})
        assert_error(answer, 401, "unauthenticated")
    for garbage in (
        "garbage",
        "cbt_short_x",
        f"cbt_{token_id}_wrongsecret",
        f"cbt_{uuid.uuid4().hex}_{tenant.token.split('_', 2)[2]}",
        f"xyz_{token_id}_{tenant.token.split('_', 2)[2]}",
        tenant.token + "x",
    ):
        answer = await send(plain, "GET", url, headers={"Authorization": f"Bearer {garbage}"})
        assert_error(answer, 401, "invalid_token")
        assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer")
    # The scheme is case-insensitive; the token works.
    answer = await send(plain, "GET", url, headers={"Authorization": f"bearer {tenant.token}"})
    assert answer.status == 200, answer.text
    # Expired: the service's clock moves past the 30-day lifetime.
    try:
        service.clock.offset_now = service.clock() + timedelta(days=31)
        answer = await send(tenant.admin, "GET", url)
        assert_error(answer, 401, "token_expired")
        before = await snapshot(service, tenant.tenant_id)
        answer = await send(
            tenant.admin, "POST", f"{service.api_url}/api/v1/tokens", body={"name": "late"}
        )
        assert_error(answer, 401, "token_expired")
        assert changes(before, await snapshot(service, tenant.tenant_id)) == {}
    finally:
        service.clock.offset_now = None
    # Revoked: refused at once, on every endpoint.
    other = await service.token_for(tenant.tenant_id, "second", Role.VIEWER)
    answer = await send(
        tenant.admin, "DELETE", f"{service.api_url}/api/v1/tokens/{other.split('_')[1]}"
    )
    assert answer.status == 204, answer.text
    revoked = service.session(token=other)
    for method, path in (
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/devices"),
        ("POST", "/api/v1/tokens"),
    ):
        body = {"name": "again"} if method == "POST" else None
        answer = await send(revoked, method, service.api_url + path, body=body)
        assert_error(answer, 401, "invalid_token")
    # Revoking twice, or a token that does not exist, is a 404.
    answer = await send(
        tenant.admin, "DELETE", f"{service.api_url}/api/v1/tokens/{other.split('_')[1]}"
    )
    assert_error(answer, 404, "not_found")


@MODULE
async def test_a_token_that_is_not_text_is_401_not_500(service: RunningService) -> None:
    # A raw non-UTF-8 byte in a real token's secret, and in its id: aiohttp's
    # client sends only text, so the request is written byte for byte.
    tenant = await new_tenant(service)
    token_id = tenant.token.split("_")[1]
    for credential in (
        f"cbt_{token_id}_x".encode() + b"\xe9",
        b"cbt_" + token_id[:-1].encode() + b"\xe9_secret",
    ):
        answer = await raw_request(
            f"{service.api_url}/api/v1/me",
            service.trust(),
            "GET",
            [b"Authorization: Bearer " + credential],
        )
        assert answer.status == 401, answer.body[:300]
        assert answer.headers["content-type"].startswith("application/json")
        assert json.loads(answer.body)["error"]["code"] == "invalid_token"
    # The real token still works.
    assert (await send(tenant.admin, "GET", f"{service.api_url}/api/v1/me")).status == 200


# ---------------------------------------------------------------------------
# Batches: all-or-nothing


@MODULE
async def test_a_batch_with_one_invalid_device_writes_nothing(service: RunningService) -> None:
    tenant = await new_tenant(service)
    connector = await enrolled_connector(service, tenant)
    url = f"{service.connector_url}/connector/v1/ingest"
    good = [record(n).wire() for n in range(1, 6)]
    before = await snapshot(service, tenant.tenant_id)
    for broken in (
        {**good[2], "smsid": "GUID:not-a-guid"},
        {**good[2], "name": ""},
        {**good[2], "resourceId": -1},
        {**good[2], "healthEvaluation": "great"},
        {**good[2], "contentHash": None},
        {k: v for k, v in good[2].items() if k != "name"},
    ):
        batch = ingest_batch("H-BAD", 1, [*good[:2], broken, *good[3:]])
        answer = await send(connector.session, "POST", url, body=batch)
        error = assert_error(answer, 400, "invalid_body")
        assert any(d["field"].startswith("upserts.2.") for d in error["details"]), error
        assert changes(before, await snapshot(service, tenant.tenant_id)) == {}
    # The batch id was not used up: the corrected batch applies under the same id.
    batch["upserts"] = good
    answer = await send(connector.session, "POST", url, body=batch)
    assert answer.status == 200, answer.text
    assert answer.json()["upserted"] == 5


async def _ingest_refused(service: RunningService, cases: dict[str, dict[str, Any]]) -> list[str]:
    """Ingest each device (next to a valid one); what was not a 400 invalid_body, or wrote."""
    tenant = await new_tenant(service)
    connector = await enrolled_connector(service, tenant)
    url = f"{service.connector_url}/connector/v1/ingest"
    failures = []
    for what, device in cases.items():
        before = await snapshot(service, tenant.tenant_id)
        batch = ingest_batch("H-BAD", 1, [record(1).wire(), device])
        answer = await send(connector.session, "POST", url, body=batch)
        if problem := error_problem(answer, 400, "invalid_body"):
            failures.append(f"ingest with {what}: {problem}")
        if answer.status >= 300 and (
            diff := changes(before, await snapshot(service, tenant.tenant_id))
        ):
            failures.append(f"ingest with {what} was refused but wrote {diff}")
    return failures


@MODULE
async def test_integers_beyond_the_store_are_400_not_500(service: RunningService) -> None:
    """resourceId is a BIGINT column; the contract bounds it only below."""
    failures = await _ingest_refused(
        service,
        {
            # Raw JSON: the contract model itself refuses these values.
            "resourceId of 2**63": {**record(11).wire(), "resourceId": 2**63},
            "resourceId of 10**30": {**record(12).wire(), "resourceId": 10**30},
        },
    )
    assert not failures, "\n".join(failures)


@MODULE
async def test_text_beyond_the_store_is_400_on_every_backend(service: RunningService) -> None:
    """Values the wire schema lets through but a store column cannot hold.

    They must be refused up front (400) on every backend: never a 500 on
    PostgreSQL while SQLite stores them.
    """
    failures = await _ingest_refused(
        service,
        {
            # device_collections.collection_id is 8 characters (CollectionRecord checks it).
            "a collection id of 40 characters": {**record(13).wire(), "collections": ["C" * 40]},
            # PostgreSQL text cannot hold NUL.
            "a device name with a NUL character": {**record(14).wire(), "name": "WKS\u0000X"},
        },
    )
    assert not failures, "\n".join(failures)


@MODULE
async def test_text_the_store_cannot_hold_is_refused_not_a_500(service: RunningService) -> None:
    tenant = await new_tenant(service)
    connector = await enrolled_connector(service, tenant)
    api, curl = service.api_url, service.connector_url
    failures = []
    calls: list[tuple[str, aiohttp.ClientSession, str, str, Any, dict[str, str] | None]] = [
        (
            "a token name with NUL",
            tenant.admin,
            "POST",
            f"{api}/api/v1/tokens",
            {"name": "a\u0000b"},
            None,
        ),
        (
            "an MDM device name with NUL",
            tenant.admin,
            "POST",
            f"{api}/api/v1/managedDevices",
            {"azureAdDeviceId": str(uuid.uuid4()), "deviceName": "a\u0000b"},
            None,
        ),
        ("a device id with NUL", tenant.admin, "GET", f"{api}/api/v1/devices/a%00b", None, None),
        ("a token id with NUL", tenant.admin, "DELETE", f"{api}/api/v1/tokens/a%00b", None, None),
        (
            "a name filter with NUL",
            tenant.admin,
            "GET",
            f"{api}/api/v1/devices",
            None,
            {"nameContains": "a\u0000b"},
        ),
        (
            "a connector version with NUL",
            connector.session,
            "POST",
            f"{curl}/connector/v1/heartbeat",
            {"connectorVersion": "1\u00002"},
            None,
        ),
    ]
    for what, session, method, url, body, params in calls:
        before = await snapshot(service, tenant.tenant_id)
        answer = await send(session, method, url, body=body, params=params)
        if answer.status >= 500:
            failures.append(f"{what}: {answer.status} {answer.text[:160]}")
        elif answer.status >= 400 and (problem := error_problem(answer, answer.status)):
            failures.append(f"{what}: {problem}")
        elif answer.status >= 400 and changes(before, await snapshot(service, tenant.tenant_id)):
            failures.append(f"{what}: refused but wrote something")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------
# Enrollment: attach codes and CSRs


@MODULE
async def test_bad_csrs_and_codes_are_400_or_403_and_leave_the_code_usable(
    service: RunningService,
) -> None:
    tenant = await new_tenant(service)
    url = f"{service.connector_url}/connector/v1/enroll"
    code = await attach_code(service, tenant, hierarchyId="H-BAD")
    _, good_csr = new_key_and_csr()
    certificate_pem = service.root_pem.decode()
    cases = [
        ("garbage", "x" * 100, 400, "malformed_csr"),
        ("a certificate, not a CSR", certificate_pem, 400, "malformed_csr"),
        (
            "a truncated CSR",
            good_csr[: len(good_csr) // 2] + "\n-----END CERTIFICATE REQUEST-----\n",
            400,
            "malformed_csr",
        ),
        ("a CSR with a wrong signature", resigned_csr(tamper=True), 400, "bad_signature"),
        ("an RSA-1024 key", built_csr(rsa.generate_private_key(65537, 1024)), 400, "weak_key"),
        (
            "a secp256k1 key",
            built_csr(ec.generate_private_key(ec.SECP256K1())),
            400,
            "unsupported_key",
        ),
        (
            "a CA request",
            built_csr(ec.generate_private_key(ec.SECP256R1()), ca=True),
            400,
            "ca_requested",
        ),
    ]
    plain = service.session()
    before = await snapshot(service, tenant.tenant_id)
    for what, csr, status, error_code in cases:
        answer = await send(plain, "POST", url, body=enroll_body(code, csr))
        problem = error_problem(answer, status, error_code)
        assert problem is None, f"{what}: {problem}"
        assert changes(before, await snapshot(service, tenant.tenant_id)) == {}, what
    # A code bound to one hierarchy enrolls no other, and is not used up by trying.
    answer = await send(plain, "POST", url, body=enroll_body(code, good_csr, "H-OTHER"))
    assert_error(answer, 403, "wrong_hierarchy")
    answer = await send(plain, "POST", url, body=enroll_body("ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", good_csr))
    assert_error(answer, 403, "attach_code_invalid")
    assert changes(before, await snapshot(service, tenant.tenant_id)) == {}
    # After all that, the code still works once, and then never again.
    answer = await send(plain, "POST", url, body=enroll_body(code, good_csr))
    assert answer.status == 201, answer.text
    answer = await send(plain, "POST", url, body=enroll_body(code, new_key_and_csr()[1]))
    assert_error(answer, 403, "attach_code_invalid")
    # An expired code.
    stale = await attach_code(service, tenant, expiresInHours=1)
    try:
        service.clock.offset_now = service.clock() + timedelta(hours=2)
        answer = await send(plain, "POST", url, body=enroll_body(stale, new_key_and_csr()[1]))
        assert_error(answer, 403, "attach_code_invalid")
    finally:
        service.clock.offset_now = None
    # A CSR naming someone else: the certificate names the enrolling connector only.
    other = f"urn:cobridge:connector:{uuid.uuid4()}:H-BAD:someone-else"
    csr = built_csr(ec.generate_private_key(ec.SECP256R1()), common_name="someone-else", san=other)
    code = await attach_code(service, tenant)
    answer = await send(plain, "POST", url, body=enroll_body(code, csr))
    if answer.status == 201:
        enrolled = answer.json()
        identity = pki.connector_identity(pki.load_cert(enrolled["certificatePem"].encode()))
        assert identity.tenant_id == tenant.tenant_id
        assert identity.connector_id == enrolled["connectorId"] != "someone-else"
        assert identity.hierarchy_id == "H-BAD"
    else:
        assert_error(answer, 400)
    # Renewal with a bad CSR writes no certificate.
    connector = await enrolled_connector(service, tenant, register=False)
    before = await snapshot(service, tenant.tenant_id)
    answer = await send(
        connector.session,
        "POST",
        f"{service.connector_url}/connector/v1/renew",
        body={"csrPem": "-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 80 + "\n"},
    )
    assert_error(answer, 400, "malformed_csr")
    assert changes(before, await snapshot(service, tenant.tenant_id)) == {}


@MODULE
async def test_an_attach_code_enrolls_once_even_when_raced(service: RunningService) -> None:
    tenant = await new_tenant(service)
    code = await attach_code(service, tenant)
    url = f"{service.connector_url}/connector/v1/enroll"
    answers = await asyncio.gather(
        *(
            send(service.session(), "POST", url, body=enroll_body(code, new_key_and_csr()[1]))
            for _ in range(6)
        )
    )
    statuses = sorted(a.status for a in answers)
    assert statuses == [201] + [403] * 5, [(a.status, a.text[:120]) for a in answers]
    for answer in answers:
        if answer.status == 403:
            assert_error(answer, 403, "attach_code_invalid")
    async with service.state.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(sa.func.count())
            .select_from(connectors)
            .where(connectors.c.tenant_id == tenant.tenant_id)
        )
        assert rows.scalar_one() == 1


@MODULE
async def test_a_sha1_signed_csr_is_refused_with_its_own_stable_code(
    service: RunningService,
) -> None:
    # pki.validate_csr refuses it as `weak_signature`; the API must say so, not `bad_request`.
    tenant = await new_tenant(service)
    code = await attach_code(service, tenant)
    answer = await send(
        service.session(),
        "POST",
        f"{service.connector_url}/connector/v1/enroll",
        body=enroll_body(code, resigned_csr(sha1=True)),
    )
    assert answer.status == 400, answer.text
    assert answer.json()["error"]["code"] == "weak_signature", answer.text


# ---------------------------------------------------------------------------
# Connector certificates and the rate limit


@MODULE
async def test_expired_not_yet_valid_and_revoked_certificates_are_401(
    service: RunningService,
) -> None:
    tenant = await new_tenant(service)
    connector = await enrolled_connector(service, tenant)
    url = f"{service.connector_url}/connector/v1/heartbeat"
    not_after = connector.certificate.not_valid_after_utc.replace(tzinfo=None)
    not_before = connector.certificate.not_valid_before_utc.replace(tzinfo=None)
    before = await snapshot(service, tenant.tenant_id)
    try:
        # TLS checks the real clock and accepts the certificate; the service checks its own.
        service.clock.offset_now = not_after + timedelta(minutes=1)
        answer = await send(connector.session, "POST", url, body={})
        error = assert_error(answer, 401, "certificate_rejected")
        assert "expired" in error["message"]
        service.clock.offset_now = not_before - timedelta(minutes=1)
        answer = await send(connector.session, "POST", url, body={})
        assert_error(answer, 401, "certificate_rejected")
    finally:
        service.clock.offset_now = None
    assert changes(before, await snapshot(service, tenant.tenant_id)) == {}
    answer = await send(connector.session, "POST", url, body={})
    assert answer.status == 200, answer.text
    # Revoked: every connector endpoint refuses it at once.
    answer = await send(
        tenant.admin,
        "POST",
        f"{service.api_url}/api/v1/connectors/{connector.enrolled['connectorId']}/revoke",
    )
    assert answer.status == 204, answer.text
    before = await snapshot(service, tenant.tenant_id)
    for method, path, body in (
        ("POST", "/connector/v1/heartbeat", {}),
        ("PUT", "/connector/v1/hierarchy", {"hierarchyId": "H-BAD", "siteCode": "BAD"}),
        ("POST", "/connector/v1/ingest", ingest_batch("H-BAD", 5, [record(1).wire()])),
        ("POST", "/connector/v1/renew", {"csrPem": new_key_and_csr()[1]}),
    ):
        answer = await send(connector.session, method, service.connector_url + path, body=body)
        assert_error(answer, 401, "certificate_revoked")
    assert changes(before, await snapshot(service, tenant.tenant_id)) == {}


@MODULE
async def test_connector_rate_limit_answers_429_with_retry_after(tight: RunningService) -> None:
    tenant = await new_tenant(tight)
    connector = await enrolled_connector(tight, tenant)  # the registration is call 1
    url = f"{tight.connector_url}/connector/v1/heartbeat"
    for _ in range(2):  # calls 2 and 3
        answer = await send(connector.session, "POST", url, body={})
        assert answer.status == 200, answer.text
    before = await snapshot(tight, tenant.tenant_id)
    answer = await send(connector.session, "POST", url, body={"status": {"backlog": 1}})
    assert_error(answer, 429, "rate_limited")
    retry_after = answer.headers.get("Retry-After", "")
    assert retry_after.isdigit(), answer.headers
    assert 1 <= int(retry_after) <= 60
    assert changes(before, await snapshot(tight, tenant.tenant_id)) == {}
    # The limit is per connector: another one of the same tenant is not slowed.
    other = await enrolled_connector(tight, tenant, hierarchy_id="H-BAD2")
    answer = await send(other.session, "POST", url, body={})
    assert answer.status == 200, answer.text
    # Admin calls are not rate limited.
    for _ in range(5):
        answer = await send(tenant.admin, "GET", f"{tight.api_url}/api/v1/hierarchies")
        assert answer.status == 200, answer.text
