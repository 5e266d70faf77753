"""The OpenAPI document of the cloud service against its routes and its behaviour.

Both ways: every route registered on either aiohttp application is documented,
and every documented operation is a registered route. Every operation has an
operationId, a success response and a `default` JSON error response; request
body schemas accept example bodies built from the contract models and refuse
what pydantic refuses; answers of the running service validate against the
documented response schemas. `/healthz` and `/metrics` answer on both listeners.

JSON Schema is checked with a small validator below (the subset pydantic emits),
so the suite needs no extra dependency.
"""

from __future__ import annotations

import copy
import itertools
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel, ValidationError

from cloud.admin_center import page_routes
from cloud.contract import tls
from cloud.contract.action_bulk import BulkActionRequest, BulkSelection, DeviceFilter
from cloud.contract.action_relay import ActionResult, ActionStarted
from cloud.contract.actions import (
    ActionRequest,
    RestartAction,
    ScriptCreate,
    TriggerAction,
    script_digest,
)
from cloud.contract.admin import AttachCodeCreate, PrincipalCreate, Role, TokenCreate
from cloud.contract.attach import (
    ConnectorStatus,
    DeleteReleaseRequest,
    EnrollRequest,
    Heartbeat,
    HeldDeleteGroup,
    HeldDeviceRef,
    HierarchyRegistration,
    RenewRequest,
)
from cloud.contract.authority import (
    AuthorityCommand,
    AuthorityCommandBatch,
    AuthorityReport,
    AuthorityState,
)
from cloud.contract.connector_audit import AuditUpload
from cloud.contract.directory import DirectoryComputer, DirectoryComputerBatch
from cloud.contract.errors import ERROR_CODES
from cloud.contract.inventory import CollectionRecord, IngestBatch
from cloud.contract.quarantine import QuarantinedRecord, quarantine_digest
from cloud.contract.rollouts import (
    RolloutError,
    RolloutOrder,
    RolloutOrderResult,
    RolloutStatusReport,
)
from cloud.server.app import build_apps
from cloud.service.api import Endpoint
from cloud.service.openapi import openapi_document
from cloud.service.registry import all_endpoints
from cloud.service.routes_devices import MdmEnrollment
from cloud.service.routes_system import service_version
from tests.support.cloud_service import RunningService, new_key_and_csr
from tests.support.connector_audit import upload_body
from tests.support.rollout_orders import DOCUMENT, PLAN_HASH
from tests.support.rollout_orders import status as rollout_status
from tests.support.service_fixtures import shared_service
from tests.support.store_records import batch, comanaged, record
from workloads.catalog import Holder, Workload
from workloads.handoff import Phase
from workloads.messages import Op

MODULE = pytest.mark.asyncio(loop_scope="module")
PARAM = re.compile(r"\{(\w+)\}")
REF = "#/components/schemas/"


service = shared_service  # one service per module and backend


# ---------------------------------------------------------------------------
# A small JSON Schema validator (the subset pydantic generates)


def _is_type(value: Any, name: str) -> bool:
    """Whether `value` is of JSON Schema type `name`."""
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise AssertionError(f"unknown JSON Schema type {name!r}")


def _format_ok(value: str, fmt: str) -> bool:
    """Whether a string has the given format (the formats pydantic emits)."""
    if fmt == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True
    if fmt == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return "T" in value
    return True  # formats that only annotate


def schema_errors(
    value: Any, schema: dict[str, Any], doc: dict[str, Any], at: str = "$"
) -> list[str]:
    """Where `value` does not satisfy `schema` (refs resolved against `doc`); empty if valid."""
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith(REF), f"{at}: a $ref outside the components: {ref}"
        return schema_errors(value, doc["components"]["schemas"][ref.removeprefix(REF)], doc, at)
    errors: list[str] = []
    for sub in schema.get("allOf", []):
        errors += schema_errors(value, sub, doc, at)
    if "anyOf" in schema and all(schema_errors(value, s, doc, at) for s in schema["anyOf"]):
        errors.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not schema_errors(value, s, doc, at)]
        if len(matching) != 1:
            errors.append(f"{at}: matches {len(matching)} of oneOf")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{at}: is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            return [*errors, f"{at}: {value!r:.60} is not of type {schema['type']}"]
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{at}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{at}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{at}: {value!r:.60} does not match {schema['pattern']}")
        if "format" in schema and not _format_ok(value, schema["format"]):
            errors.append(f"{at}: {value!r:.60} is not a {schema['format']}")
    if _is_type(value, "number"):
        for key, bad in (
            ("minimum", lambda v, m: v < m),
            ("maximum", lambda v, m: v > m),
            ("exclusiveMinimum", lambda v, m: v <= m),
            ("exclusiveMaximum", lambda v, m: v >= m),
        ):
            if key in schema and bad(value, schema[key]):
                errors.append(f"{at}: {value} violates {key} {schema[key]}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{at}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{at}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += schema_errors(item, schema["items"], doc, f"{at}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{at}: lacks required {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], doc, f"{at}.{name}")
            elif extra is False:
                errors.append(f"{at}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, doc, f"{at}.{name}")
    return errors


def test_the_validator_is_not_vacuous() -> None:
    doc = {"components": {"schemas": {}}}
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "pattern": "^x", "maxLength": 3},
            "b": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            "c": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        },
        "required": ["a"],
        "additionalProperties": False,
    }
    assert schema_errors({"a": "xy", "b": None, "c": [str(uuid.uuid4())]}, schema, doc) == []
    for bad in (
        {},
        {"a": "yy"},
        {"a": "xyzw"},
        {"a": "x", "b": 0},
        {"a": "x", "b": True},
        {"a": "x", "c": ["nope"]},
        {"a": "x", "d": 1},
        [],
    ):
        assert schema_errors(bad, schema, doc), bad


# ---------------------------------------------------------------------------
# The document against the routes


def document() -> dict[str, Any]:
    """The document built from the route declarations."""
    return openapi_document(all_endpoints(), service_version())


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every documented operation."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def success_status(operation: dict[str, Any]) -> int:
    """The one documented success status of an operation."""
    statuses = [k for k in operation["responses"] if k != "default"]
    assert len(statuses) == 1, statuses
    return int(statuses[0])


def registered_routes(app: aiohttp.web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route of an application (HEAD auto-routes left out)."""
    out = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        assert path, f"a route without a path: {route!r}"
        out.add((route.method, path))
    return out


@MODULE
async def test_document_lists_exactly_the_routes_of_both_applications(
    service: RunningService,
) -> None:
    admin_app, connector_app = build_apps(service.state)
    # The admin center's HTML pages share the API listener but are not API operations.
    admin = registered_routes(admin_app) - page_routes()
    connector = registered_routes(connector_app)
    served = []
    for base in (service.api_url, service.connector_url):
        async with service.session().get(f"{base}/openapi.json") as r:
            assert r.status == 200
            assert r.content_type == "application/json"
            served.append(await r.json())
    assert served[0] == served[1], "the two listeners serve different documents"
    doc = served[0]
    assert doc["openapi"].startswith("3.")
    assert doc == document(), "the served document is not the one built from the routes"
    documented = {(m, p) for m, p, _ in operations(doc)}
    routes = admin | connector
    assert routes - documented == set(), "registered but not documented"
    assert documented - routes == set(), "documented but not registered"
    # Every declared endpoint is served, on the listener it declares.
    for e in all_endpoints():
        on = {"admin": admin, "connector": connector}
        for listener in ("admin", "connector"):
            present = (e.method, e.path) in on[listener]
            assert present == (e.listener in (listener, "both")), (e.method, e.path, listener)
    # And what is served answers: no documented operation is a 404/405 on its listener.
    for e in all_endpoints():
        base = service.connector_url if e.listener == "connector" else service.api_url
        path = PARAM.sub("nothing-here", e.path)
        async with service.session().request(e.method, base + path) as r:
            body = await r.json() if r.content_type == "application/json" else {}
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            assert r.status != 405, (e.method, path)
            assert code != "method_not_allowed", (e.method, path)
            if code == "not_found":
                assert PARAM.search(e.path), f"{e.method} {e.path} is documented but not found"


def test_every_operation_is_complete() -> None:
    doc = document()
    ids = []
    by_route = {(e.method, e.path): e for e in all_endpoints()}
    for method, path, operation in operations(doc):
        where = f"{method} {path}"
        endpoint: Endpoint = by_route[(method, path)]
        assert operation.get("operationId"), where
        ids.append(operation["operationId"])
        assert operation.get("summary"), where
        responses = operation.get("responses")
        assert responses, where
        success = success_status(operation)
        assert 200 <= success < 300, where
        default = responses.get("default")
        assert default, f"{where} has no default (error) response"
        schema = default["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"{REF}ErrorBody"}, where
        # Path parameters: exactly those of the path, required strings.
        params = [p for p in operation["parameters"] if p["in"] == "path"]
        assert [p["name"] for p in params] == PARAM.findall(path), where
        assert all(p["required"] for p in params), where
        # Query parameters: exactly the wire names of the query model.
        query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        wanted = set()
        if endpoint.query is not None:
            wanted = {f.alias or n for n, f in endpoint.query.model_fields.items()}
        assert query == wanted, where
        # Security as declared.
        security = {
            "admin": [{"bearer": []}],
            "connector": [{"clientCertificate": []}],
            "device": [{"deviceSecret": []}],
        }
        assert operation["security"] == security.get(endpoint.auth, []), where
        if endpoint.body is not None:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"{REF}{endpoint.body.__name__}"}, where
        else:
            assert "requestBody" not in operation, where
    assert len(ids) == len(set(ids)), f"duplicate operationIds: {sorted(ids)}"
    # Every $ref anywhere resolves.
    text = repr(doc)
    for name in set(re.findall(re.escape(REF) + r"(\w+)", text)):
        assert name in doc["components"]["schemas"], f"unresolved $ref {name}"
    # The error schema names what every error body holds.
    error = doc["components"]["schemas"]["ErrorBody"]
    assert schema_errors({"error": {"code": "not_found", "message": "m"}}, error, doc) == []
    assert schema_errors({"error": {"code": "not_found"}}, error, doc)


def example_bodies() -> dict[type[BaseModel], dict[str, Any]]:
    """A valid wire body of every request model, built through the contract models."""
    _, csr = new_key_and_csr()
    full_batch = batch(
        "H-PS1",
        7,
        [record(1), record(2, comanagement=comanaged(), aad_device_id=str(uuid.uuid4()))],
        tombstones=[3],
        collections=[CollectionRecord(collection_id="PS100012", name="Pilot", collection_type=2)],
    )
    return {
        PrincipalCreate: PrincipalCreate(name="ops", role=Role.OPERATOR).wire(),
        TokenCreate: TokenCreate(name="ci", expires_in_days=7).wire(),
        AttachCodeCreate: AttachCodeCreate(expires_in_hours=2, hierarchy_id="H-PS1").wire(),
        MdmEnrollment: MdmEnrollment(
            azure_ad_device_id=str(uuid.uuid4()), device_name="LAPTOP-1", os_version="10.0"
        ).wire(),
        EnrollRequest: EnrollRequest(
            attach_code="ABCDE-FGHJK-MNPQR-STVWX",
            csr_pem=csr,
            hierarchy_id="H-PS1",
            site_code="PS1",
            connector_version="1.2.3",
        ).wire(),
        RenewRequest: RenewRequest(csr_pem=csr).wire(),
        HierarchyRegistration: HierarchyRegistration(
            hierarchy_id="H-PS1", site_code="PS1", site_name="Contoso", site_version="5.00"
        ).wire(),
        Heartbeat: Heartbeat(
            connector_version="1.2.3",
            status=ConnectorStatus(site_devices=3, backlog=0, lag_seconds=1.5),
            held_deletes=[
                HeldDeleteGroup(
                    cycle_id="c1",
                    count=600,
                    held_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
                    sample=[HeldDeviceRef(smsid=record(1).smsid, name="WKS00001")],
                )
            ],
            applied_releases=[uuid.uuid4()],
        ).wire(),
        DeleteReleaseRequest: DeleteReleaseRequest(cycle_id="c1").wire(),
        IngestBatch: full_batch.wire(),
        AuthorityCommandBatch: AuthorityCommandBatch(
            commands=[
                AuthorityCommand(
                    op=Op.GRANT, smsid=record(1).smsid, workload=Workload.COMPLIANCE, epoch=3
                )
            ]
        ).wire(),
        DirectoryComputerBatch: DirectoryComputerBatch(
            computers=[
                DirectoryComputer(
                    object_guid=str(uuid.uuid4()),
                    distinguished_name="CN=WKS00001,OU=Workstations,DC=corp,DC=example",
                    name="WKS00001",
                    sam_account_name="WKS00001$",
                    last_logon=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
                    enabled=True,
                    deleted_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
                    match="dn",
                    smsid=record(1).smsid,
                    discrepancy=True,
                )
            ]
        ).wire(),
        AuthorityReport: AuthorityReport(
            records=[
                AuthorityState(
                    smsid=record(1).smsid,
                    workload=Workload.COMPLIANCE,
                    holder=Holder.CONFIGMGR,
                    epoch=3,
                    phase=Phase.REVOKING,
                    target=Holder.CLOUD,
                    desired=Holder.CLOUD,
                    conflict="observed",
                    updated_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
                )
            ]
        ).wire(),
        AuditUpload: upload_body("compliancePolicy"),
    } | {**action_example_bodies(), **rollout_example_bodies()}


def test_request_body_schemas_accept_contract_examples_and_refuse_what_pydantic_refuses() -> None:
    doc = document()
    examples = example_bodies()
    failures = []
    bodies = [e for e in all_endpoints() if e.body is not None]
    assert bodies
    for endpoint in bodies:
        assert endpoint.body is not None
        where = f"{endpoint.method} {endpoint.path}"
        assert endpoint.body in examples, f"{where}: no example for {endpoint.body.__name__}"
        schema = doc["paths"][endpoint.path][endpoint.method.lower()]["requestBody"]
        schema = schema["content"]["application/json"]["schema"]
        example = examples[endpoint.body]
        endpoint.body.model_validate(example)
        if errors := schema_errors(example, schema, doc):
            failures.append(f"{where}: the document refuses a valid body: {errors}")
        # Variants that pydantic refuses must be refused by the document too, and back.
        variants: list[tuple[str, Any]] = [("an unknown property", {**example, "bogus": 1})]
        variants.append(("not an object", [example]))
        for name in example:
            without = {k: v for k, v in example.items() if k != name}
            variants.append((f"without {name}", without))
            variants.append((f"{name} of a wrong type", {**example, name: [[]]}))
        for what, variant in variants:
            try:
                endpoint.body.model_validate(variant)
                pydantic_ok = True
            except ValidationError:
                pydantic_ok = False
            doc_ok = not schema_errors(variant, schema, doc)
            if pydantic_ok != doc_ok:
                failures.append(
                    f"{where} {what}: pydantic {'accepts' if pydantic_ok else 'refuses'}, "
                    f"the document {'accepts' if doc_ok else 'refuses'}"
                )
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------
# The running service against the document


async def _answer(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, str, Any]:
    """(status, content type, body as JSON or text)."""
    async with session.request(method, url, json=body) as r:
        text = await r.text()
        data: Any = text
        if r.content_type == "application/json" and text:
            data = await r.json()
        return r.status, r.content_type, data


@MODULE
async def test_answers_validate_against_the_documented_responses(service: RunningService) -> None:
    doc = document()
    n = uuid.uuid4().hex[:8]
    tenant_id, token = await service.tenant_with_admin(f"oas-{n}")
    admin = service.session(token=token)
    api, curl = service.api_url, service.connector_url
    failures: list[str] = []
    seen: set[tuple[str, str]] = set()

    async def check(
        session: aiohttp.ClientSession,
        method: str,
        base: str,
        path: str,
        route: str,
        body: Any = None,
    ) -> Any:
        """Call `route` at `path`; record where the answer departs from the document."""
        status, content_type, data = await _answer(session, method, base + path, body)
        operation = doc["paths"][route][method.lower()]
        where = f"{method} {path}"
        seen.add((method, route))
        if status >= 400:
            schema = operation["responses"]["default"]["content"]["application/json"]["schema"]
            if errors := schema_errors(data, schema, doc):
                failures.append(f"{where}: error body {errors}")
            failures.append(f"{where}: {status} {data}")
            return data
        if status != success_status(operation):
            failures.append(f"{where}: answered {status}, documented {success_status(operation)}")
            return data
        content = operation["responses"][str(status)].get("content") if status != 204 else None
        if content is None:
            if status != 204 and data:
                failures.append(f"{where}: a body ({content_type}) the document does not describe")
            return data
        if content_type not in content:
            failures.append(f"{where}: {content_type}, documented {sorted(content)}")
        elif content_type == "application/json" and (
            errors := schema_errors(data, content[content_type]["schema"], doc)
        ):
            failures.append(f"{where}: answer does not match the document: {errors[:5]}")
        return data

    code = await check(admin, "POST", api, "/api/v1/attachCodes", "/api/v1/attachCodes", {})
    key_pem, csr = new_key_and_csr()
    body = {"attachCode": code["code"], "csrPem": csr, "hierarchyId": "H-OAS", "siteCode": "OAS"}
    enrolled = await check(
        service.session(), "POST", curl, "/connector/v1/enroll", "/connector/v1/enroll", body
    )
    chain = (enrolled["certificatePem"] + enrolled["caChainPem"]).encode()
    connector = service.session(ssl_context=tls.client_context(service.root_pem, chain, key_pem))
    registration = {"hierarchyId": "H-OAS", "siteCode": "OAS"}
    await check(
        connector, "PUT", curl, "/connector/v1/hierarchy", "/connector/v1/hierarchy", registration
    )
    held = {"cycleId": "c1", "count": 600, "heldAt": "2026-11-01T09:00:00Z"}
    heartbeat = {"status": {"siteDevices": 2, "custom": "x"}, "heldDeletes": [held]}
    await check(
        connector, "POST", curl, "/connector/v1/heartbeat", "/connector/v1/heartbeat", heartbeat
    )
    aad = str(uuid.uuid4())
    records = [record(1, aad_device_id=aad), record(2, comanagement=comanaged())]
    ingest = batch("H-OAS", 1, records).wire()
    await check(connector, "POST", curl, "/connector/v1/ingest", "/connector/v1/ingest", ingest)
    await authority_calls(check, admin, connector, service, record(1).smsid)
    await action_calls(check, admin, connector, service, record(1).smsid)
    await rollout_calls(check, admin, connector, service)
    held_page = await check(
        connector, "GET", curl, "/connector/v1/devices?top=1", "/connector/v1/devices"
    )
    assert held_page["nextAfter"] == held_page["value"][0]["smsid"]
    await check(
        connector,
        "POST",
        curl,
        "/connector/v1/renew",
        "/connector/v1/renew",
        {"csrPem": new_key_and_csr()[1]},
    )
    mdm = {"azureAdDeviceId": str(uuid.uuid4()), "deviceName": "MDM-1"}
    await check(admin, "POST", api, "/api/v1/managedDevices", "/api/v1/managedDevices", mdm)
    await check(
        admin,
        "POST",
        api,
        "/api/v1/principals",
        "/api/v1/principals",
        {"name": "p1", "role": "viewer"},
    )
    made = await check(admin, "POST", api, "/api/v1/tokens", "/api/v1/tokens", {"name": "t1"})
    page = await check(admin, "GET", api, "/api/v1/devices?$count=true", "/api/v1/devices")
    device_id = page["value"][0]["id"]
    await check(admin, "GET", api, f"/api/v1/devices/{device_id}", "/api/v1/devices/{deviceId}")
    await check(admin, "GET", api, "/api/v1/devices/export", "/api/v1/devices/export")
    for e in all_endpoints():
        listed = e.method == "GET" and e.auth == "admin" and not PARAM.search(e.path)
        if listed and (e.method, e.path) not in seen:
            await check(admin, "GET", api, e.path, e.path)
    await check(admin, "GET", api, "/api/v1/hierarchies/H-OAS", "/api/v1/hierarchies/{hierarchyId}")
    held_route = "/api/v1/hierarchies/{hierarchyId}/held-deletes"
    held_path = "/api/v1/hierarchies/H-OAS/held-deletes"
    await check(admin, "GET", api, held_path, held_route)
    await check(admin, "POST", api, f"{held_path}/release", f"{held_route}/release", {})
    await check(admin, "GET", api, f"{held_path}/releases", f"{held_route}/releases")
    # The heartbeat answer that carries the release order matches the document too,
    # and so does the quarantine its report fills.
    refused = QuarantinedRecord(
        source="site", key="rid:1", reason="invalid_guid", first_seen=datetime.now(UTC)
    )
    counts = {"invalid_guid": 1}
    report = {"digest": quarantine_digest(counts, [refused]), "counts": counts}
    beat = {"quarantine": {**report, "records": [refused.wire()]}}
    await check(connector, "POST", curl, "/connector/v1/heartbeat", "/connector/v1/heartbeat", beat)
    await check(
        admin,
        "GET",
        api,
        "/api/v1/hierarchies/H-OAS/quarantine?reason=invalid_guid",
        "/api/v1/hierarchies/{hierarchyId}/quarantine",
    )
    # AD computers: sent by the connector, listed, and named in the linked device's detail.
    attached = next(d for d in page["value"] if d["smsid"] is not None)
    linked = DirectoryComputer(
        object_guid=str(uuid.uuid4()),
        distinguished_name="CN=LINKED,DC=corp,DC=example",
        name="LINKED",
        enabled=True,
        match="nameDomain",
        smsid=attached["smsid"],
    )
    directory = "/connector/v1/directory/computers"
    sent = {"computers": [linked.wire()]}
    await check(connector, "POST", curl, directory, directory, sent)
    listed_route = "/api/v1/hierarchies/{hierarchyId}/directoryComputers"
    listed = await check(
        admin,
        "GET",
        api,
        "/api/v1/hierarchies/H-OAS/directoryComputers?state=matched",
        listed_route,
    )
    assert [c["deviceId"] for c in listed["value"]] == [attached["id"]]
    detail = await check(
        admin, "GET", api, f"/api/v1/devices/{attached['id']}", "/api/v1/devices/{deviceId}"
    )
    assert detail["activeDirectory"]["name"] == "LINKED"
    # The connector's audit log: uploaded, then read with its chain's status.
    route = "/connector/v1/audit/entries"
    await check(connector, "POST", curl, route, route, upload_body("compliancePolicy"))
    route = "/api/v1/hierarchies/{hierarchyId}/auditLog"
    log = await check(admin, "GET", api, "/api/v1/hierarchies/H-OAS/auditLog?$top=1", route)
    assert (log["chain"]["entries"], log["nextBefore"]) == (2, 2)
    await check(
        admin, "DELETE", api, f"/api/v1/tokens/{made['tokenId']}", "/api/v1/tokens/{tokenId}"
    )
    await check(
        admin,
        "POST",
        api,
        "/api/v1/hierarchies/H-OAS/detach",
        "/api/v1/hierarchies/{hierarchyId}/detach",
    )
    # A second connector to revoke (the detach revoked the first).
    code = await check(admin, "POST", api, "/api/v1/attachCodes", "/api/v1/attachCodes", {})
    body = {**body, "attachCode": code["code"], "csrPem": new_key_and_csr()[1]}
    second = await check(
        service.session(), "POST", curl, "/connector/v1/enroll", "/connector/v1/enroll", body
    )
    await check(
        admin,
        "POST",
        api,
        f"/api/v1/connectors/{second['connectorId']}/revoke",
        "/api/v1/connectors/{connectorId}/revoke",
    )
    # Public operations are checked by test_public_operations_answer_with_their_documented_status.
    public = {(e.method, e.path) for e in all_endpoints() if e.auth == "public"}
    missing = {(m, p) for m, p, _ in operations(doc)} - seen - public
    assert not missing, f"operations this test did not exercise: {sorted(missing)}"
    assert tenant_id
    assert not failures, "\n".join(failures)


@MODULE
async def test_error_answers_validate_against_the_default_response(service: RunningService) -> None:
    doc = document()
    schema = {"$ref": f"{REF}ErrorBody"}
    session = service.session(token="cbt_" + "0" * 32 + "_nope")
    cases = [
        (service.session(), "GET", f"{service.api_url}/api/v1/me", 401),
        (session, "GET", f"{service.api_url}/api/v1/me", 401),
        (service.session(), "GET", f"{service.api_url}/no/such/path", 404),
        (service.session(), "DELETE", f"{service.api_url}/healthz", 405),
        (service.session(), "POST", f"{service.connector_url}/connector/v1/heartbeat", 401),
    ]
    for client, method, url, status in cases:
        got, content_type, data = await _answer(client, method, url)
        assert (got, content_type) == (status, "application/json"), (method, url, got, data)
        assert schema_errors(data, schema, doc) == [], (method, url, data)
        assert ERROR_CODES[data["error"]["code"]] == status, data


@MODULE
async def test_healthz_and_metrics(service: RunningService) -> None:
    for base in (service.api_url, service.connector_url):
        async with service.session().get(f"{base}/healthz") as r:
            assert r.status == 200
            body = await r.json()
            assert body["status"] == "ok"
            assert body["store"] == "ok"
            assert body["version"] == service_version()
    _, token = await service.tenant_with_admin(f"metrics-{uuid.uuid4().hex[:8]}")
    for _ in range(3):
        async with service.session(token=token).get(f"{service.api_url}/api/v1/me") as r:
            assert r.status == 200
    async with service.session().get(f"{service.api_url}/api/v1/me") as r:
        assert r.status == 401
    async with service.session().get(f"{service.api_url}/nowhere") as r:
        assert r.status == 404
    async with service.session().get(f"{service.api_url}/metrics") as r:
        assert r.status == 200
        assert r.content_type == "text/plain"
        text = await r.text()
    assert "cobridge_http_requests_total" in text

    def count(route: str, status: str) -> float:
        pattern = re.compile(
            r'^cobridge_http_requests_total\{(?=[^}]*route="' + re.escape(route) + r'")'
            r'(?=[^}]*method="GET")(?=[^}]*status="' + status + r'")[^}]*\} ([0-9.e+]+)$',
            re.MULTILINE,
        )
        found = pattern.findall(text)
        return sum(float(f) for f in found)

    assert count("/api/v1/me", "200") >= 3
    assert count("/api/v1/me", "401") >= 1
    assert count("unmatched", "404") >= 1
    assert count("/healthz", "200") >= 1
    assert "cobridge_http_request_seconds" in text
    assert "cobridge_ingest_batches_total" in text


@MODULE
async def test_public_operations_answer_with_their_documented_status(
    service: RunningService,
) -> None:
    doc = document()
    mismatches = []
    public = [e for e in all_endpoints() if e.auth == "public"]
    for endpoint, base in itertools.product(public, (service.api_url, service.connector_url)):
        operation = doc["paths"][endpoint.path][endpoint.method.lower()]
        documented = success_status(operation)
        status, content_type, _ = await _answer(
            service.session(), endpoint.method, base + endpoint.path
        )
        if status != documented:
            mismatches.append(
                f"{endpoint.method} {endpoint.path}: answers {status} ({content_type}), "
                f"the document says {documented}"
            )
        described = operation["responses"][str(documented)].get("content", {})
        if documented != 204 and content_type not in described:
            mismatches.append(
                f"{endpoint.method} {endpoint.path}: answers {content_type}, "
                f"the document describes {sorted(described)}"
            )
    assert not mismatches, "\n".join(dict.fromkeys(mismatches))


async def authority_calls(
    check: Any,
    admin: aiohttp.ClientSession,
    connector: aiohttp.ClientSession,
    service: RunningService,
    smsid: str,
) -> None:
    """The authority operations, for a device `smsid` of hierarchy H-OAS with an Entra id."""
    api, curl = service.api_url, service.connector_url
    route = "/connector/v1/authority/commands"
    grant = {"op": "grant", "smsid": smsid, "workload": "compliancePolicy", "epoch": 1}
    answer = await check(connector, "POST", curl, route, route, {"commands": [grant, grant]})
    assert [r["result"] for r in answer["replies"]] == ["ack", "ack"]
    route = "/connector/v1/authority/states"
    held = {"smsid": smsid, "workload": "compliancePolicy", "holder": "cloud", "epoch": 1}
    held |= {"phase": "held", "desired": "cloud", "updatedAt": "2026-11-01T09:00:00Z"}
    await check(connector, "POST", curl, route, route, {"records": [held]})
    page = await check(admin, "GET", api, "/api/v1/devices", "/api/v1/devices")
    [device_id] = [d["id"] for d in page["value"] if d["smsid"] == smsid]
    route = "/api/v1/devices/{deviceId}/checkinCredential"
    issued = await check(
        admin, "POST", api, f"/api/v1/devices/{device_id}/checkinCredential", route
    )
    device = service.session(token=issued["secret"])
    answer = await check(device, "POST", api, "/device/v1/checkin", "/device/v1/checkin")
    assert [w["workload"] for w in answer["workloads"]] == ["compliancePolicy"]
    route = "/api/v1/devices/{deviceId}/authority"
    await check(admin, "GET", api, f"/api/v1/devices/{device_id}/authority", route)
    detail = await check(
        admin, "GET", api, f"/api/v1/devices/{device_id}", "/api/v1/devices/{deviceId}"
    )
    assert detail["configurationManagerClientEnabledFeatures"]["compliancePolicy"] is True
    for log in ("deliveries", "gateLog"):
        route = f"/api/v1/hierarchies/{{hierarchyId}}/authority/{log}"
        path = f"/api/v1/hierarchies/H-OAS/authority/{log}?since=0&$top=10"
        answer = await check(admin, "GET", api, path, route)
        assert len(answer["value"]) == 1


def test_example_bodies_round_trip_through_their_models() -> None:
    examples = example_bodies()
    again = copy.deepcopy(examples)
    for model, body in examples.items():
        assert model.model_validate(body).wire() == again[model]


def action_example_bodies() -> dict[type[BaseModel], dict[str, Any]]:
    """Valid wire bodies of the device-action request models."""
    script = "Get-Service ccmexec\n"
    selection = BulkSelection(
        filter=DeviceFilter(name_starts_with="WKS", client_health="pass"),
        collection_id="SMS00001",
        action=RestartAction(kind="restart", delay_minutes=10),
        max_devices=100,
    )
    return {
        ActionRequest: ActionRequest(
            device_id=str(uuid.uuid4()),
            action=TriggerAction(kind="machinePolicyRetrieval"),
            idempotency_key="nightly-42",
            expires_in_minutes=60,
        ).wire(),
        BulkSelection: selection.wire(),
        BulkActionRequest: BulkActionRequest(
            **selection.model_dump(),
            expected_count=3,
            confirm_token="a" * 64,
            idempotency_key="bulk-1",
        ).wire(),
        ScriptCreate: ScriptCreate(
            name="ccmexec", description="status", content=script, sha256=script_digest(script)
        ).wire(),
        ActionStarted: ActionStarted(action_id=str(uuid.uuid4())).wire(),
        ActionResult: ActionResult(
            action_id=str(uuid.uuid4()),
            state="failed",
            exit_code=1,
            output="denied",
            output_truncated=True,
            error_code="script_failed",
            error_message="exit code 1",
        ).wire(),
    }


async def action_calls(
    check: Any,
    admin: aiohttp.ClientSession,
    connector: aiohttp.ClientSession,
    service: RunningService,
    smsid: str,
) -> None:
    """The device-action operations, for a device `smsid` of hierarchy H-OAS with the agent."""
    api, curl = service.api_url, service.connector_url
    await check(admin, "GET", api, "/api/v1/actionCatalogue", "/api/v1/actionCatalogue")
    script = {"name": "hostname", "content": "hostname"}
    made = await check(admin, "POST", api, "/api/v1/scripts", "/api/v1/scripts", script)
    script_path = f"/api/v1/scripts/{made['scriptId']}"
    await check(admin, "GET", api, script_path, "/api/v1/scripts/{scriptId}")
    page = await check(admin, "GET", api, "/api/v1/devices", "/api/v1/devices")
    [device_id] = [d["id"] for d in page["value"] if d["smsid"] == smsid]
    run = {"deviceId": device_id, "action": {"kind": "runScript", "scriptId": made["scriptId"]}}
    action = await check(admin, "POST", api, "/api/v1/actions", "/api/v1/actions", run)
    selection = {"filter": {"hierarchyId": "H-OAS"}, "action": {"kind": "hardwareInventory"}}
    route = "/api/v1/bulkActions/preview"
    preview = await check(admin, "POST", api, route, route, selection)
    bulk = {**selection, "confirmToken": preview["confirmToken"]}
    await check(admin, "POST", api, "/api/v1/bulkActions", "/api/v1/bulkActions", bulk)
    route = "/connector/v1/actions/claim"
    claim = await check(connector, "POST", curl, f"{route}?limit=50&wait=0", route)
    assert {a["kind"] for a in claim["value"]} == {"runScript", "hardwareInventory"}
    started = {"actionId": action["actionId"]}
    route = "/connector/v1/actions/started"
    await check(connector, "POST", curl, route, route, started)
    result = {"actionId": action["actionId"], "state": "succeeded", "exitCode": 0}
    route = "/connector/v1/actions/result"
    await check(connector, "POST", curl, route, route, result)
    path = f"/api/v1/actions/{action['actionId']}"
    done = await check(admin, "GET", api, path, "/api/v1/actions/{actionId}")
    assert done["state"] == "succeeded"
    await check(admin, "GET", api, "/api/v1/actions?$top=2", "/api/v1/actions")
    queued = await check(admin, "POST", api, "/api/v1/actions", "/api/v1/actions", run)
    path = f"/api/v1/actions/{queued['actionId']}/cancel"
    await check(admin, "POST", api, path, "/api/v1/actions/{actionId}/cancel")
    await check(admin, "POST", api, f"{script_path}/retire", "/api/v1/scripts/{scriptId}/retire")


def rollout_example_bodies() -> dict[type[BaseModel], dict[str, Any]]:
    """Valid wire bodies of the rollout request models."""
    return {
        RolloutOrder: RolloutOrder(
            op="apply", document=DOCUMENT, plan_hash=PLAN_HASH, idempotency_key="apply-1"
        ).wire(),
        RolloutOrderResult: RolloutOrderResult(
            state="refused",
            error=RolloutError(code="plan_changed", message="the plan changed", hint="plan again"),
        ).wire(),
        RolloutStatusReport: rollout_status().wire(),
    }


async def rollout_calls(
    check: Any,
    admin: aiohttp.ClientSession,
    connector: aiohttp.ClientSession,
    service: RunningService,
) -> None:
    """The rollout operations, for hierarchy H-OAS."""
    api, curl = service.api_url, service.connector_url
    base, route = "/api/v1/hierarchies/H-OAS", "/api/v1/hierarchies/{hierarchyId}"
    order = {"op": "plan", "document": DOCUMENT}
    made = await check(admin, "POST", api, f"{base}/rolloutOrders", f"{route}/rolloutOrders", order)
    queue = "/connector/v1/rollouts/orders"
    queued = await check(connector, "GET", curl, queue, queue)
    assert [o["orderId"] for o in queued["value"]] == [made["orderId"]]
    result = {"state": "done", "result": {"plan_hash": PLAN_HASH, "has_changes": True}}
    path = f"{queue}/{made['orderId']}/result"
    await check(connector, "POST", curl, path, f"{queue}/{{orderId}}/result", result)
    path = f"{base}/rolloutOrders/{made['orderId']}"
    done = await check(admin, "GET", api, path, f"{route}/rolloutOrders/{{orderId}}")
    assert done["state"] == "done"
    await check(admin, "GET", api, f"{base}/rolloutOrders?$top=5", f"{route}/rolloutOrders")
    status_route = "/connector/v1/rollouts/status"
    await check(connector, "POST", curl, status_route, status_route, rollout_status().wire())
    reported = await check(admin, "GET", api, f"{base}/rollout", f"{route}/rollout")
    assert reported["rollout"]["phase"] == "soaking"
