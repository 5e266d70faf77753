"""Tenant attach over real HTTPS: attach codes, enrollment with a CSR, mutual TLS, ingest."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import timedelta

import pytest

from cloud.contract import tls
from cloud.contract.admin import Role
from tests.support.cloud_service import RunningService, new_key_and_csr
from tests.support.store_records import record

pytestmark = pytest.mark.asyncio


async def attach_code(service: RunningService, token: str, **body: object) -> str:
    """Create an attach code through the admin API."""
    async with service.session(token=token).post(
        f"{service.api_url}/api/v1/attachCodes", json=body
    ) as r:
        assert r.status == 201, await r.text()
        return (await r.json())["code"]


async def enroll(
    service: RunningService, code: str, hierarchy_id: str = "H-PS1"
) -> tuple[dict, bytes]:
    """Enroll a new connector key; (response body, key PEM)."""
    key_pem, csr_pem = new_key_and_csr()
    body = {"attachCode": code, "csrPem": csr_pem, "hierarchyId": hierarchy_id, "siteCode": "PS1"}
    async with service.session().post(
        f"{service.connector_url}/connector/v1/enroll", json=body
    ) as r:
        assert r.status == 201, await r.text()
        return await r.json(), key_pem


def connector_session(service: RunningService, enrolled: dict, key_pem: bytes):  # type: ignore[no-untyped-def]
    """A session presenting the enrolled certificate with its chain."""
    chain = (enrolled["certificatePem"] + enrolled["caChainPem"]).encode()
    return service.session(ssl_context=tls.client_context(service.root_pem, chain, key_pem))


async def test_enroll_register_heartbeat_ingest_and_query(service: RunningService) -> None:
    tenant_id, token = await service.tenant_with_admin("contoso")
    enrolled, key_pem = await enroll(service, await attach_code(service, token))
    assert enrolled["tenantId"] == tenant_id
    assert "BEGIN CERTIFICATE" in enrolled["certificatePem"]
    connector = connector_session(service, enrolled, key_pem)
    url = service.connector_url
    registration = {
        "hierarchyId": "H-PS1",
        "siteCode": "ps1",
        "siteName": "Contoso",
        "siteVersion": "5.00.9128.1000",
    }
    async with connector.put(f"{url}/connector/v1/hierarchy", json=registration) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["siteCode"] == "PS1"
    async with connector.post(
        f"{url}/connector/v1/heartbeat", json={"status": {"siteDevices": 2}}
    ) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["lastAppliedSequence"] is None
    batch = {
        "batchId": str(uuid.uuid4()),
        "hierarchyId": "H-PS1",
        "sequence": 1,
        "upserts": [record(1).wire(), record(2).wire()],
    }
    body = gzip.compress(json.dumps(batch).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with connector.post(f"{url}/connector/v1/ingest", data=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        ack = await r.json()
    assert (ack["upserted"], ack["replayed"]) == (2, False)
    async with connector.post(f"{url}/connector/v1/ingest", data=body, headers=headers) as r:
        assert (await r.json())["replayed"] is True
    admin = service.session(token=token)
    async with admin.get(f"{service.api_url}/api/v1/devices", params={"$count": "true"}) as r:
        page = await r.json()
    assert page["@odata.count"] == 2
    assert {d["deviceName"] for d in page["value"]} == {"WKS00001", "WKS00002"}
    async with admin.get(f"{service.api_url}/api/v1/hierarchies") as r:
        [hierarchy] = (await r.json())["value"]
    assert (hierarchy["deviceCount"], hierarchy["lastAppliedSequence"]) == (2, 1)
    assert hierarchy["status"] == {"siteDevices": 2}


async def test_attach_code_is_single_use_and_expires(service: RunningService) -> None:
    _, token = await service.tenant_with_admin("fabrikam")
    code = await attach_code(service, token, expiresInHours=1)
    await enroll(service, code)
    _, csr = new_key_and_csr()
    body = {"attachCode": code, "csrPem": csr, "hierarchyId": "H-PS1", "siteCode": "PS1"}
    async with service.session().post(
        f"{service.connector_url}/connector/v1/enroll", json=body
    ) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "attach_code_invalid"
    stale = await attach_code(service, token, expiresInHours=1)
    service.clock.offset_now = service.clock() + timedelta(hours=2)
    body["attachCode"] = stale
    async with service.session().post(
        f"{service.connector_url}/connector/v1/enroll", json=body
    ) as r:
        assert (await r.json())["error"]["code"] == "attach_code_invalid"


async def test_a_lost_enrollment_answer_is_replayed_only_for_its_key_and_only_briefly(
    service: RunningService,
) -> None:
    _, token = await service.tenant_with_admin("lost-answer")
    code = await attach_code(service, token, expiresInHours=1)
    _, csr = new_key_and_csr()
    body = {"attachCode": code, "csrPem": csr, "hierarchyId": "H-PS1", "siteCode": "PS1"}
    url = f"{service.connector_url}/connector/v1/enroll"
    answers = []
    for _ in range(2):
        async with service.session().post(url, json=body) as r:
            assert r.status == 201, await r.text()
            answers.append(await r.json())
    assert answers[0] == answers[1]  # the same connector and certificate, nothing new
    async with service.session(token=token).get(f"{service.api_url}/api/v1/connectors") as r:
        assert len((await r.json())["value"]) == 1
    for wrong in ({"hierarchyId": "H-OTHER"}, {"csrPem": new_key_and_csr()[1]}):
        async with service.session().post(url, json=body | wrong) as r:
            assert r.status == 403
    service.clock.offset_now = service.clock() + timedelta(minutes=16)
    async with service.session().post(url, json=body) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "attach_code_invalid"


async def test_weak_key_csr_is_refused_and_the_code_stays_usable(service: RunningService) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from cloud.pki import x509

    _, token = await service.tenant_with_admin("weak")
    code = await attach_code(service, token)
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "c")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    body = {"attachCode": code, "csrPem": weak, "hierarchyId": "H-PS1", "siteCode": "PS1"}
    async with service.session().post(
        f"{service.connector_url}/connector/v1/enroll", json=body
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "weak_key"
    await enroll(service, code)


async def test_connector_calls_need_a_valid_unrevoked_certificate(service: RunningService) -> None:
    _, token = await service.tenant_with_admin("revoked")
    enrolled, key_pem = await enroll(service, await attach_code(service, token))
    url = f"{service.connector_url}/connector/v1/heartbeat"
    async with service.session().post(url, json={}) as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "certificate_required"
    connector = connector_session(service, enrolled, key_pem)
    async with connector.put(
        f"{service.connector_url}/connector/v1/hierarchy",
        json={"hierarchyId": "H-PS1", "siteCode": "PS1"},
    ) as r:
        assert r.status == 200
    admin = service.session(token=token)
    async with admin.post(
        f"{service.api_url}/api/v1/connectors/{enrolled['connectorId']}/revoke"
    ) as r:
        assert r.status == 204, await r.text()
    async with connector.post(url, json={}) as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "certificate_revoked"


async def test_connector_cannot_write_another_hierarchy(service: RunningService) -> None:
    _, token = await service.tenant_with_admin("scoped")
    enrolled, key_pem = await enroll(
        service, await attach_code(service, token), hierarchy_id="H-ONE"
    )
    connector = connector_session(service, enrolled, key_pem)
    async with connector.put(
        f"{service.connector_url}/connector/v1/hierarchy",
        json={"hierarchyId": "H-TWO", "siteCode": "PS2"},
    ) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "wrong_hierarchy"
    batch = {
        "batchId": str(uuid.uuid4()),
        "hierarchyId": "H-TWO",
        "sequence": 1,
        "upserts": [record(1).wire()],
    }
    async with connector.post(f"{service.connector_url}/connector/v1/ingest", json=batch) as r:
        assert (await r.json())["error"]["code"] == "wrong_hierarchy"


async def test_viewer_cannot_create_attach_codes(service: RunningService) -> None:
    tenant_id, _ = await service.tenant_with_admin("roles")
    viewer = await service.token_for(tenant_id, "viewer-1", Role.VIEWER)
    async with service.session(token=viewer).post(
        f"{service.api_url}/api/v1/attachCodes", json={}
    ) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "forbidden"


async def test_renewal_issues_a_new_certificate_for_the_same_identity(
    service: RunningService,
) -> None:
    _, token = await service.tenant_with_admin("renewing")
    enrolled, key_pem = await enroll(service, await attach_code(service, token))
    connector = connector_session(service, enrolled, key_pem)
    new_key, csr = new_key_and_csr()
    async with connector.post(
        f"{service.connector_url}/connector/v1/renew", json={"csrPem": csr}
    ) as r:
        assert r.status == 200, await r.text()
        renewed = await r.json()
    assert renewed["connectorId"] == enrolled["connectorId"]
    assert renewed["certificatePem"] != enrolled["certificatePem"]
    fresh = connector_session(service, renewed, new_key)
    registration = {"hierarchyId": "H-PS1", "siteCode": "PS1"}
    async with fresh.put(f"{service.connector_url}/connector/v1/hierarchy", json=registration) as r:
        assert r.status == 200, await r.text()
    # Until it expires, the old certificate still works (a connector that
    # crashed before saving the new one is not locked out)...
    async with connector.post(f"{service.connector_url}/connector/v1/heartbeat", json={}) as r:
        assert r.status == 200
    # ...and revoking the connector ends both.
    async with service.session(token=token).post(
        f"{service.api_url}/api/v1/connectors/{enrolled['connectorId']}/revoke"
    ) as r:
        assert r.status == 204
    for session in (connector, fresh):
        async with session.post(f"{service.connector_url}/connector/v1/heartbeat", json={}) as r:
            assert (await r.json())["error"]["code"] == "certificate_revoked"


async def test_detach_revokes_now_and_removes_devices_after_retention(
    service: RunningService,
) -> None:
    from cloud.store.attach import purge_detached

    _, token = await service.tenant_with_admin("leaving")
    enrolled, key_pem = await enroll(service, await attach_code(service, token))
    connector = connector_session(service, enrolled, key_pem)
    url = service.connector_url
    async with connector.put(
        f"{url}/connector/v1/hierarchy", json={"hierarchyId": "H-PS1", "siteCode": "PS1"}
    ) as r:
        assert r.status == 200
    batch = {
        "batchId": str(uuid.uuid4()),
        "hierarchyId": "H-PS1",
        "sequence": 1,
        "upserts": [record(1).wire()],
    }
    async with connector.post(f"{url}/connector/v1/ingest", json=batch) as r:
        assert r.status == 200
    admin = service.session(token=token)
    async with admin.post(f"{service.api_url}/api/v1/hierarchies/H-PS1/detach") as r:
        assert r.status == 200, await r.text()
        detached = await r.json()
    assert detached["detachedAt"] is not None
    async with connector.post(f"{url}/connector/v1/heartbeat", json={}) as r:
        assert (await r.json())["error"]["code"] == "certificate_revoked"

    async def device_count() -> int:
        async with admin.get(f"{service.api_url}/api/v1/devices", params={"$count": "true"}) as r:
            return (await r.json())["@odata.count"]

    async with service.state.engine.begin() as conn:
        assert await purge_detached(conn, service.clock()) == 0
    assert await device_count() == 1, "devices stay during the retention period"
    later = service.clock() + timedelta(days=service.state.settings.detach_retention_days, hours=1)
    async with service.state.engine.begin() as conn:
        assert await purge_detached(conn, later) == 1
    assert await device_count() == 0
