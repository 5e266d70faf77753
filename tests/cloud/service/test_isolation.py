"""Tenant isolation of the cloud service, over real HTTPS (DESIGN.md section 9).

The matrix is built from `all_endpoints()`: every admin endpoint x every role
x {own tenant, other tenant}, so a new endpoint is covered as soon as it is
declared, and the matrix fails if it cannot classify one (an unknown path
parameter, body or query model). Two tenants, alpha (A) and beta (B), each
have an admin, an operator and a viewer with tokens, an enrolled connector, a
registered hierarchy with ingested devices, an MDM-only device and attach
codes. After the calls of each endpoint made with A's credentials, every row
of B in every tenant-scoped table (read straight from the store) must be
exactly what it was; and the same the other way round.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import sqlalchemy as sa

from cloud.contract import tls
from cloud.contract.action_bulk import BulkActionRequest, BulkSelection
from cloud.contract.action_relay import ActionClaimQuery, ActionResult, ActionStarted
from cloud.contract.actions import ActionListQuery, ActionRequest, ScriptCreate
from cloud.contract.admin import AttachCodeCreate, PrincipalCreate, Role, TokenCreate
from cloud.contract.attach import (
    DeleteReleaseRequest,
    EnrollRequest,
    Heartbeat,
    HierarchyRegistration,
    RenewRequest,
)
from cloud.contract.authority import AuthorityCommandBatch, AuthorityReport
from cloud.contract.authority_views import AuthorityLogQuery
from cloud.contract.connector_audit import AuditUpload, ConnectorAuditQuery
from cloud.contract.devices import DeviceQuery
from cloud.contract.directory import DirectoryComputerBatch, DirectoryQuery
from cloud.contract.errors import ERROR_CODES
from cloud.contract.inventory import HeldDevicesQuery, IngestBatch
from cloud.contract.quarantine import QuarantinedRecord, QuarantineQuery, quarantine_digest
from cloud.contract.rollouts import (
    RolloutOrder,
    RolloutOrderQuery,
    RolloutOrderResult,
    RolloutStatusReport,
)
from cloud.service import bootstrap
from cloud.service.api import Endpoint
from cloud.service.openapi import openapi_document
from cloud.service.registry import all_endpoints
from cloud.service.routes_devices import MdmEnrollment
from cloud.store.held_deletes import save_report
from cloud.store.linking import enroll_mdm_device
from cloud.store.schema import cloud_metadata
from tests.support.cloud_service import RunningService, new_key_and_csr
from tests.support.connector_audit import upload_body
from tests.support.rollout_orders import status as rollout_status
from tests.support.service_fixtures import shared_service
from tests.support.store_records import make_hierarchy, record, smsid

ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
PARAM = re.compile(r"\{(\w+)\}")
# What each path parameter names; a new parameter must be added here.
PARAM_KINDS = {
    "tokenId": "token",
    "hierarchyId": "hierarchy",
    "connectorId": "connector",
    "deviceId": "device",
    "actionId": "action",
    "scriptId": "script",
    "orderId": "rollout_order",
}
# Bodies and queries the matrix knows how to fill; a new model must be added here.
ADMIN_BODIES = (PrincipalCreate, TokenCreate, AttachCodeCreate, MdmEnrollment, DeleteReleaseRequest)
CONNECTOR_BODIES = (
    RenewRequest,
    HierarchyRegistration,
    Heartbeat,
    IngestBatch,
    AuthorityCommandBatch,
    AuthorityReport,
    DirectoryComputerBatch,
)
QUERIES = (DeviceQuery, HeldDevicesQuery, QuarantineQuery, AuthorityLogQuery, DirectoryQuery)
# Device actions (cloud.contract.actions): bodies and queries of both listeners.
ADMIN_BODIES += (ActionRequest, BulkSelection, BulkActionRequest, ScriptCreate)
CONNECTOR_BODIES += (ActionStarted, ActionResult)
QUERIES += (ActionListQuery, ActionClaimQuery)
# Rollout orders and status (cloud.contract.rollouts).
ADMIN_BODIES += (RolloutOrder,)
CONNECTOR_BODIES += (RolloutOrderResult, RolloutStatusReport)
QUERIES += (RolloutOrderQuery,)
# The connector's audit log (cloud.contract.connector_audit).
CONNECTOR_BODIES += (AuditUpload,)
QUERIES += (ConnectorAuditQuery,)
TENANT_TABLES = [t for t in cloud_metadata.sorted_tables if "tenant_id" in t.c]
# Bookkeeping that authenticating a call legitimately updates.
VOLATILE = {("api_tokens", "last_used_at")}
_counter = itertools.count(1)
# One service per backend for the whole module (each test makes its own tenants):
# starting a service on a fresh PostgreSQL database costs seconds.
MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


# ---------------------------------------------------------------------------
# Helpers


@dataclass
class Answer:
    """One HTTP answer: status, headers and body text."""

    status: int
    headers: dict[str, str]
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
    params: dict[str, str] | None = None,
) -> Answer:
    """Send one request (JSON body when given) and read the whole answer."""
    kwargs: dict[str, Any] = {"params": params}
    if body is not None:
        kwargs["json"] = body
    async with session.request(method, url, **kwargs) as r:
        return Answer(r.status, dict(r.headers), await r.text())


async def expect(
    session: aiohttp.ClientSession, method: str, url: str, status: int, **kwargs: Any
) -> Any:
    """Send and insist on `status`; the JSON body (or None)."""
    answer = await send(session, method, url, **kwargs)
    assert answer.status == status, f"{method} {url}: {answer.status} {answer.text}"
    return answer.json() if answer.text else None


def error_ok(answer: Answer, status: int, code: str | None) -> str | None:
    """None if `answer` is the JSON error `code` with `status`, else what is wrong."""
    if answer.status != status:
        return f"status {answer.status} (expected {status}): {answer.text[:300]}"
    if code is None:
        return None
    try:
        body = answer.json()
    except ValueError:
        return f"error body is not JSON: {answer.text[:200]!r}"
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str):
        return f"error body is not {{'error': {{code, message}}}}: {body!r}"
    if err.get("code") != code:
        return f"code {err.get('code')!r} (expected {code!r}): {err.get('message')}"
    if ERROR_CODES.get(code) != status:
        return f"code {code!r} is not a stable code for status {status}"
    return None


async def snapshot(service: RunningService, tenant_id: str) -> dict[str, list[str]]:
    """Every row of the tenant in every tenant-scoped table (volatile columns left out)."""
    out: dict[str, list[str]] = {}
    async with service.state.engine.connect() as conn:
        for table in TENANT_TABLES:
            cols = [c for c in table.c if (table.name, c.name) not in VOLATILE]
            rows = (
                await conn.execute(sa.select(*cols).where(table.c.tenant_id == tenant_id))
            ).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The tables whose rows differ, with a short description of the difference."""
    out = []
    for name in before:
        if before[name] != after[name]:
            added = sorted(set(after[name]) - set(before[name]))
            removed = sorted(set(before[name]) - set(after[name]))
            out.append(f"{name}: +{added[:2]} -{removed[:2]}")
    return out


@dataclass
class Watch:
    """Watches every row of one tenant and reports each change once, where it happened."""

    service: RunningService
    tenant_id: str
    label: str
    failures: list[str]
    baseline: dict[str, list[str]] = field(default_factory=dict)

    async def start(self) -> Watch:
        """Take the baseline."""
        self.baseline = await snapshot(self.service, self.tenant_id)
        return self

    async def check(self, where: str) -> None:
        """Record a failure if the tenant's rows changed since the last look."""
        after = await snapshot(self.service, self.tenant_id)
        if diff := changed_tables(self.baseline, after):
            self.failures.append(f"{where}: changed tenant {self.label}: {diff}")
            self.baseline = after


def documented_success(endpoint: Endpoint) -> int:
    """The success status the OpenAPI document gives for `endpoint`."""
    doc = openapi_document([endpoint], "test")
    responses = doc["paths"][endpoint.path][endpoint.method.lower()]["responses"]
    [status] = [int(k) for k in responses if k != "default"]
    return status


def aad_id(n: int) -> str:
    """A valid (lower-case) Entra device id for device number n."""
    return f"{n:08x}-0000-4000-8000-{n:012x}"


@dataclass
class Tenant:
    """One tenant of the world with every kind of object the API can name."""

    label: str
    tenant_id: str
    hierarchy_id: str
    site_code: str
    tokens: dict[Role, str]
    sessions: dict[Role, aiohttp.ClientSession]
    principal_ids: dict[Role, str] = field(default_factory=dict)
    token_ids: dict[Role, str] = field(default_factory=dict)
    connector_id: str = ""
    connector: aiohttp.ClientSession | None = None
    device_ids: list[str] = field(default_factory=list)
    smsids: list[str] = field(default_factory=list)
    aad_ids: list[str] = field(default_factory=list)
    code_ids: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    credential_ids: list[str] = field(default_factory=list)
    device_secret: str = ""
    attached_device_id: str = ""
    action_ids: list[str] = field(default_factory=list)
    script_ids: list[str] = field(default_factory=list)
    rollout_order_ids: list[str] = field(default_factory=list)

    def principal_name(self, role: Role) -> str:
        """The name of the tenant's principal of `role`."""
        return f"{self.label}-{role.value}"

    def generated_ids(self) -> set[str]:
        """Identifiers the service minted for this tenant: never legitimately in another's data."""
        return {
            self.tenant_id,
            self.connector_id,
            *self.principal_ids.values(),
            *self.token_ids.values(),
            *self.device_ids,
            *self.code_ids,
            *self.credential_ids,
            *self.action_ids,
            *self.script_ids,
            *self.rollout_order_ids,
        }

    def secrets(self) -> set[str]:
        """Everything that names this tenant's objects (ids, names, keys)."""
        names = {self.principal_name(r) for r in ROLES}
        return {
            *self.generated_ids(),
            self.hierarchy_id,
            *self.smsids,
            *self.aad_ids,
            *names,
            *(f"{self.label.upper()}{n:05d}" for n in self.numbers),
        }

    def object_id(self, kind: str) -> str:
        """The id of this tenant's (main) object of `kind`."""
        return {
            "token": self.token_ids[Role.ADMIN],
            "hierarchy": self.hierarchy_id,
            "connector": self.connector_id,
            "device": self.device_ids[0],
            "action": self.action_ids[0] if self.action_ids else "",
            "script": self.script_ids[0] if self.script_ids else "",
            "rollout_order": self.rollout_order_ids[0] if self.rollout_order_ids else "",
        }[kind]


def connector_session(
    service: RunningService, enrolled: dict[str, Any], key_pem: bytes
) -> aiohttp.ClientSession:
    """A session presenting an enrolled connector certificate with its chain."""
    chain = (enrolled["certificatePem"] + enrolled["caChainPem"]).encode()
    return service.session(ssl_context=tls.client_context(service.root_pem, chain, key_pem))


async def enroll(
    service: RunningService, code: str, hierarchy_id: str, site_code: str
) -> tuple[dict[str, Any], aiohttp.ClientSession]:
    """Enroll a new connector; (enrollment answer, session with its certificate)."""
    key_pem, csr = new_key_and_csr()
    body = {
        "attachCode": code,
        "csrPem": csr,
        "hierarchyId": hierarchy_id,
        "siteCode": site_code,
    }
    enrolled = await expect(
        service.session(), "POST", f"{service.connector_url}/connector/v1/enroll", 201, body=body
    )
    return enrolled, connector_session(service, enrolled, key_pem)


def batch_body(
    hierarchy_id: str, sequence: int, records: list[dict], tombstones: Iterable[str] = ()
) -> dict[str, Any]:
    """A wire ingest batch."""
    return {
        "batchId": str(uuid.uuid4()),
        "hierarchyId": hierarchy_id,
        "sequence": sequence,
        "upserts": records,
        "tombstones": [{"smsid": s} for s in tombstones],
        "collections": [{"collectionId": "SMS00001", "name": "All Systems", "collectionType": 2}],
    }


def device_records(label: str, numbers: list[int], version: str = "v1") -> list[dict]:
    """Wire device records for the given device numbers, named after the tenant."""
    return [
        record(
            n,
            name=f"{label.upper()}{n:05d}",
            aad_device_id=aad_id(n),
            content_hash=f"hash-{label}-{n:06d}-{version}",
        ).wire()
        for n in numbers
    ]


async def build_tenant(
    service: RunningService, label: str, hierarchy_id: str, site_code: str, numbers: list[int]
) -> Tenant:
    """A tenant with three roles, a connector, a hierarchy, devices, codes, all through the API."""
    tenant_id, admin_token = await service.tenant_with_admin(label)
    tokens = {
        Role.ADMIN: admin_token,
        Role.OPERATOR: await service.token_for(tenant_id, f"{label}-operator", Role.OPERATOR),
        Role.VIEWER: await service.token_for(tenant_id, f"{label}-viewer", Role.VIEWER),
    }
    tenant = Tenant(
        label=label,
        tenant_id=tenant_id,
        hierarchy_id=hierarchy_id,
        site_code=site_code,
        tokens=tokens,
        sessions={role: service.session(token=t) for role, t in tokens.items()},
        numbers=numbers,
    )
    api = service.api_url
    admin = tenant.sessions[Role.ADMIN]
    code = await expect(
        admin, "POST", f"{api}/api/v1/attachCodes", 201, body={"hierarchyId": hierarchy_id}
    )
    enrolled, connector = await enroll(service, code["code"], hierarchy_id, site_code)
    tenant.connector_id, tenant.connector = enrolled["connectorId"], connector
    curl = service.connector_url
    registration = {"hierarchyId": hierarchy_id, "siteCode": site_code, "siteName": label}
    await expect(connector, "PUT", f"{curl}/connector/v1/hierarchy", 200, body=registration)
    # A quarantine that names this tenant's connector: should another tenant's
    # answer ever show it, the leak check finds the id.
    refused = QuarantinedRecord(
        source="site",
        key=f"rid:{numbers[0]}",
        reason="invalid_guid",
        detail=f"refused by connector {tenant.connector_id}",
        first_seen=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
    )
    quarantine = {"digest": quarantine_digest({"invalid_guid": 1}, [refused])}
    quarantine |= {"counts": {"invalid_guid": 1}, "records": [refused.wire()]}
    beat = {"status": {"backlog": 0}, "quarantine": quarantine}
    await expect(connector, "POST", f"{curl}/connector/v1/heartbeat", 200, body=beat)
    records = device_records(label, numbers)
    await expect(
        connector,
        "POST",
        f"{curl}/connector/v1/ingest",
        200,
        body=batch_body(hierarchy_id, 1, records),
    )
    # AD computers: one linked to this tenant's first device, one without an agent
    # whose DN names the connector, so a leak into another tenant's answer shows.
    computers = directory_computers(tenant.connector_id, numbers[0], label)
    await expect(connector, "POST", f"{curl}/connector/v1/directory/computers", 200, body=computers)
    await expect(admin, "POST", f"{api}/api/v1/attachCodes", 201, body={})  # a spare, unused code
    mdm = {"azureAdDeviceId": aad_id(9000 + numbers[0]), "deviceName": f"{label.upper()}-MDM"}
    await expect(
        tenant.sessions[Role.OPERATOR], "POST", f"{api}/api/v1/managedDevices", 201, body=mdm
    )
    tenant.smsids = [smsid(n) for n in numbers]
    tenant.aad_ids = [aad_id(n) for n in numbers] + [mdm["azureAdDeviceId"]]
    principals = (await expect(admin, "GET", f"{api}/api/v1/principals", 200))["value"]
    by_name = {p["name"]: p["principalId"] for p in principals}
    tenant.principal_ids = {role: by_name[tenant.principal_name(role)] for role in ROLES}
    tenant.token_ids = {role: t.split("_")[1] for role, t in tokens.items()}
    page = await expect(admin, "GET", f"{api}/api/v1/devices", 200, params={"$top": "1000"})
    tenant.device_ids = [d["id"] for d in page["value"]]
    assert len(tenant.device_ids) == len(numbers) + 1
    codes = (await expect(admin, "GET", f"{api}/api/v1/attachCodes", 200))["value"]
    tenant.code_ids = [c["codeId"] for c in codes]
    await authority_of(service, tenant, page["value"])
    await actions_of(service, tenant, page["value"])
    await rollout_orders_of(service, tenant)
    return tenant


def action_body(device_id: str) -> dict[str, Any]:
    """A wire request for machine policy retrieval on one device."""
    return {"deviceId": device_id, "action": {"kind": "machinePolicyRetrieval"}}


async def actions_of(service: RunningService, tenant: Tenant, devices: list[dict]) -> None:
    """An approved script and a queued action on the tenant's first attached device."""
    tenant.attached_device_id = next(d["id"] for d in devices if d["smsid"] == tenant.smsids[0])
    api = service.api_url
    script = {"name": f"{tenant.label}-script", "content": f"Write-Output {tenant.label}"}
    made = await expect(
        tenant.sessions[Role.ADMIN], "POST", f"{api}/api/v1/scripts", 201, body=script
    )
    tenant.script_ids.append(made["scriptId"])
    body = action_body(tenant.attached_device_id)
    made = await expect(
        tenant.sessions[Role.OPERATOR], "POST", f"{api}/api/v1/actions", 201, body=body
    )
    tenant.action_ids.append(made["actionId"])


ROLLOUT_ORDER = {"op": "pause", "reason": "matrix"}


async def rollout_orders_of(service: RunningService, tenant: Tenant) -> None:
    """A queued rollout order for the tenant's hierarchy, and a status its connector reported."""
    made = await expect(
        tenant.sessions[Role.OPERATOR],
        "POST",
        f"{service.api_url}/api/v1/hierarchies/{tenant.hierarchy_id}/rolloutOrders",
        202,
        body=ROLLOUT_ORDER,
    )
    tenant.rollout_order_ids.append(made["orderId"])
    assert tenant.connector is not None
    body = rollout_status().wire()
    await expect(
        tenant.connector,
        "POST",
        f"{service.connector_url}/connector/v1/rollouts/status",
        200,
        body=body,
    )


def directory_computers(connector_id: str, number: int, label: str) -> dict[str, Any]:
    """A wire batch of two AD computers: one linked to device `number`, one without an agent."""
    linked = {
        "objectGuid": str(uuid.UUID(int=number)),
        "distinguishedName": f"CN={label.upper()}{number:05d},DC=corp,DC=example",
        "name": f"{label.upper()}{number:05d}",
        "enabled": True,
        "match": "dn",
        "smsid": smsid(number),
    }
    alone = {
        "objectGuid": str(uuid.UUID(int=10**6 + number)),
        "distinguishedName": f"CN=NOAGENT,OU={connector_id},DC=corp,DC=example",
        "name": f"NOAGENT-{connector_id}",
        "enabled": True,
        "match": "none",
    }
    return {"computers": [linked, alone]}


def authority_commands(smsids: list[str]) -> dict[str, Any]:
    """A wire batch granting the cloud compliance for these devices, and revoking client apps."""
    commands = [
        {"op": "grant", "workload": "compliancePolicy", "epoch": 1, "smsid": s} for s in smsids
    ]
    commands += [{"op": "revoke", "workload": "modernApps", "epoch": 2, "smsid": s} for s in smsids]
    return {"commands": commands}


def authority_report(smsids: list[str]) -> dict[str, Any]:
    """A wire report: the cloud holds compliance for these devices, at epoch 3."""
    records = [
        {
            "smsid": s,
            "workload": "compliancePolicy",
            "holder": "cloud",
            "epoch": 3,
            "phase": "held",
            "desired": "cloud",
            "conflict": f"noted {s}",
            "updatedAt": "2026-11-01T09:00:00Z",
        }
        for s in smsids
    ]
    return {"records": records}


async def authority_of(service: RunningService, tenant: Tenant, devices: list[dict]) -> None:
    """Authority of the tenant's first device: a grant, a report, a device secret, a check-in.

    So every authority read has something of this tenant's that it must never
    show another, and every authority write has something to leave alone.
    """
    assert tenant.connector is not None
    curl, first = service.connector_url, tenant.smsids[0]
    body = authority_commands([first])
    await expect(
        tenant.connector, "POST", f"{curl}/connector/v1/authority/commands", 200, body=body
    )
    body = authority_report([first])
    await expect(tenant.connector, "POST", f"{curl}/connector/v1/authority/states", 200, body=body)
    [device_id] = [d["id"] for d in devices if d["smsid"] == first]
    issued = await expect(
        tenant.sessions[Role.OPERATOR],
        "POST",
        f"{service.api_url}/api/v1/devices/{device_id}/checkinCredential",
        201,
    )
    tenant.credential_ids.append(issued["credentialId"])
    tenant.device_secret = issued["secret"]
    device = service.session(token=tenant.device_secret)
    answer = await expect(device, "POST", f"{service.api_url}/device/v1/checkin", 200)
    assert [w["workload"] for w in answer["workloads"]] == ["compliancePolicy"]


async def world(service: RunningService) -> tuple[Tenant, Tenant]:
    """Tenants alpha (A) and beta (B), fully populated."""
    n = next(_counter)
    a = await build_tenant(service, f"alpha{n}", f"H-ALPHA{n}", "PS1", [1, 2, 3])
    b = await build_tenant(service, f"beta{n}", f"H-BETA{n}", "PS2", [101, 102, 103])
    return a, b


# ---------------------------------------------------------------------------
# Classification of every endpoint


def classify(endpoint: Endpoint) -> list[str]:
    """What the matrix cannot handle about `endpoint` (empty when it is fully classified)."""
    problems = []
    where = f"{endpoint.method} {endpoint.path}"
    if endpoint.auth not in ("public", "admin", "connector", "enroll", "device"):
        problems.append(f"{where}: unknown auth {endpoint.auth!r}")
    if endpoint.auth == "device" and (
        endpoint.listener != "admin" or endpoint.body is not None or PARAM.search(endpoint.path)
    ):
        # A device names nothing: it reads what its own secret stands for.
        problems.append(
            f"{where}: a device endpoint with a body, a parameter or on {endpoint.listener}"
        )
    if endpoint.auth == "admin":
        if endpoint.role is None:
            problems.append(f"{where}: an admin endpoint without a role")
        if endpoint.listener != "admin":
            problems.append(f"{where}: an admin endpoint on the {endpoint.listener} listener")
        if endpoint.body is not None and endpoint.body not in ADMIN_BODIES:
            problems.append(f"{where}: no example for body {endpoint.body.__name__}")
    if endpoint.auth in ("connector", "enroll"):
        if endpoint.listener != "connector":
            problems.append(f"{where}: a connector endpoint on the {endpoint.listener} listener")
        known = (*CONNECTOR_BODIES, EnrollRequest)
        if endpoint.body is not None and endpoint.body not in known:
            problems.append(f"{where}: no example for body {endpoint.body.__name__}")
    if endpoint.auth == "public" and endpoint.method != "GET":
        problems.append(f"{where}: a public endpoint that is not a GET")
    for name in PARAM.findall(endpoint.path):
        if name not in PARAM_KINDS:
            problems.append(f"{where}: unknown path parameter {name!r}")
    if endpoint.query is not None and endpoint.query not in QUERIES:
        problems.append(f"{where}: unknown query model {endpoint.query.__name__}")
    return problems


def admin_endpoints() -> list[Endpoint]:
    """The admin endpoints, after checking every endpoint is classified."""
    problems = [p for e in all_endpoints() for p in classify(e)]
    assert not problems, "the isolation matrix cannot classify:\n" + "\n".join(problems)
    return [e for e in all_endpoints() if e.auth == "admin"]


def test_every_endpoint_is_classified() -> None:
    endpoints = admin_endpoints()
    # The matrix covers something of every kind it claims to.
    assert {e.method for e in endpoints} >= {"GET", "POST", "DELETE"}
    assert {name for e in endpoints for name in PARAM.findall(e.path)} == set(PARAM_KINDS)
    assert any(e.auth == "connector" for e in all_endpoints())


def fill_path(endpoint: Endpoint, ids: dict[str, str]) -> str:
    """The endpoint's path with each parameter replaced by the id of its kind."""
    return PARAM.sub(lambda m: ids[PARAM_KINDS[m.group(1)]], endpoint.path)


def admin_body(endpoint: Endpoint, caller: Tenant, target: Tenant) -> dict[str, Any] | None:
    """An example body; cross-tenant references point at `target`'s objects."""
    n = next(_counter)
    other = caller is not target
    if endpoint.body is None:
        return None
    if endpoint.body is PrincipalCreate:
        # Across tenants the name is one B already uses: names are per tenant, no 409.
        name = target.principal_name(Role.ADMIN) if other else f"{caller.label}-new-{n}"
        return {"name": name, "role": "viewer"}
    if endpoint.body is TokenCreate:
        body: dict[str, Any] = {"name": f"matrix-{n}", "expiresInDays": 1}
        if other:
            body["principalId"] = target.principal_ids[Role.ADMIN]
        return body
    if endpoint.body is AttachCodeCreate:
        return {"expiresInHours": 1}
    if endpoint.body is MdmEnrollment:
        # Across tenants: B's device's Entra id must never link to B's device.
        aad = target.aad_ids[0] if other else aad_id(50_000 + n)
        return {"azureAdDeviceId": aad, "deviceName": f"MDM-{n}"}
    if endpoint.body is DeleteReleaseRequest:
        return {}  # every held delete of the hierarchy
    if endpoint.body is ActionRequest:
        # Across tenants: B's device is no device of A (404, nothing queued for B).
        return action_body(target.attached_device_id)
    if endpoint.body in (BulkSelection, BulkActionRequest):
        # Across tenants: B's hierarchy matches none of A's devices; nothing is queued.
        body = {"filter": {"hierarchyId": target.hierarchy_id}}
        body["action"] = {"kind": "hardwareInventory"}
        if endpoint.body is BulkActionRequest:
            body["expectedCount"] = 0 if other else len(target.numbers)
        return body
    if endpoint.body is ScriptCreate:
        return {"name": f"matrix-{n}", "content": f"Write-Output {n}"}
    if endpoint.body is RolloutOrder:
        return ROLLOUT_ORDER
    raise AssertionError(f"no example body for {endpoint.body.__name__}")


def query_for(endpoint: Endpoint, target: Tenant) -> dict[str, str] | None:
    """Query parameters aimed at `target`'s objects."""
    if endpoint.query is DeviceQuery:
        return {"hierarchyId": target.hierarchy_id, "$top": "1000"}
    if endpoint.query is AuthorityLogQuery:
        return {"since": "0", "$top": "1000"}
    return None


def expected(endpoint: Endpoint, role: Role, other: bool) -> tuple[int, str | None]:
    """(status, error code) a caller of `role` must get; other = ids of another tenant."""
    assert endpoint.role is not None
    if role.rank < endpoint.role.rank:
        return 403, "forbidden"
    if other and PARAM.search(endpoint.path):
        return 404, "not_found"
    if other and endpoint.body is ActionRequest:
        return 404, "not_found"
    if other and endpoint.body is TokenCreate:
        # A token for a principal of another tenant: that principal does not exist here.
        return (404, "not_found") if role is Role.ADMIN else (403, "forbidden")
    return documented_success(endpoint), None


async def disposable(service: RunningService, tenant: Tenant, kind: str, role: Role) -> str:
    """A fresh object of `kind` in `tenant` that a destructive call may consume."""
    n = next(_counter)
    if kind == "token":
        token_id, _ = await bootstrap.create_token(
            service.state, tenant.tenant_id, tenant.principal_name(role), 1
        )
        return token_id
    if kind == "hierarchy":
        async with service.state.engine.begin() as conn:
            hierarchy_id = await make_hierarchy(conn, tenant.tenant_id, f"H-TMP{n}", "TMP")
            # With deletes held, so that a release of them succeeds.
            held = {"cycleId": f"c{n}", "count": 600, "heldAt": "2026-11-01T09:00:00Z"}
            await save_report(conn, tenant.tenant_id, hierarchy_id, [held], service.clock())
            return hierarchy_id
    if kind == "connector":
        code = await bootstrap.create_attach_code(service.state, tenant.tenant_id, 1, None)
        enrolled, _ = await enroll(service, code, f"H-SPARE{n}", "SPR")
        return enrolled["connectorId"]
    if kind == "device":
        async with service.state.engine.begin() as conn:
            device_id, _ = await enroll_mdm_device(
                conn,
                tenant.tenant_id,
                aad_device_id=aad_id(70_000 + n),
                device_name=f"SPARE-{n}",
                os_version=None,
                now=service.clock(),
            )
            return device_id
    if kind == "action":
        body = action_body(tenant.attached_device_id)
        made = await expect(
            tenant.sessions[Role.OPERATOR],
            "POST",
            f"{service.api_url}/api/v1/actions",
            201,
            body=body,
        )
        return made["actionId"]
    if kind == "rollout_order":
        made = await expect(
            tenant.sessions[Role.OPERATOR],
            "POST",
            f"{service.api_url}/api/v1/hierarchies/{tenant.hierarchy_id}/rolloutOrders",
            202,
            body=ROLLOUT_ORDER,
        )
        return made["orderId"]
    if kind == "script":
        body = {"name": f"spare-{n}", "content": f"Write-Output {n}"}
        made = await expect(
            tenant.sessions[Role.ADMIN], "POST", f"{service.api_url}/api/v1/scripts", 201, body=body
        )
        return made["scriptId"]
    raise AssertionError(f"no disposable {kind} for a destructive call")


# ---------------------------------------------------------------------------
# Tests


@MODULE
async def test_lists_never_show_another_tenants_objects(service: RunningService) -> None:
    a, b = await world(service)
    failures: list[str] = []
    lists = [e for e in admin_endpoints() if e.method == "GET" and not PARAM.search(e.path)]
    assert lists
    for me, them in ((a, b), (b, a)):
        for endpoint, role in itertools.product(lists, ROLES):
            assert endpoint.role is not None
            if role.rank < endpoint.role.rank:
                continue
            answer = await send(
                me.sessions[role],
                "GET",
                service.api_url + endpoint.path,
                params={"$top": "1000"} if endpoint.query is not None else None,
            )
            where = f"{me.label}/{role.value} GET {endpoint.path}"
            if answer.status != 200:
                failures.append(f"{where}: {answer.status} {answer.text[:200]}")
                continue
            leaked = sorted(s for s in them.secrets() if s in answer.text)
            if leaked:
                failures.append(f"{where}: shows {them.label}'s {leaked}")
        # Not vacuous: each tenant sees all of its own devices, connectors and hierarchies.
        admin = me.sessions[Role.ADMIN]
        page = await expect(
            admin, "GET", f"{service.api_url}/api/v1/devices", 200, params={"$top": "1000"}
        )
        assert sorted(d["id"] for d in page["value"]) == sorted(me.device_ids)
        connectors = await expect(admin, "GET", f"{service.api_url}/api/v1/connectors", 200)
        assert [c["connectorId"] for c in connectors["value"]] == [me.connector_id]
        hierarchies = await expect(admin, "GET", f"{service.api_url}/api/v1/hierarchies", 200)
        assert [h["hierarchyId"] for h in hierarchies["value"]] == [me.hierarchy_id]
    # Filters that name another tenant's hierarchy, device names or collection find nothing.
    for params in (
        {"hierarchyId": b.hierarchy_id},
        {"nameStartsWith": b.label.upper()},
        {"siteCode": b.site_code},
    ):
        page = await expect(
            a.sessions[Role.VIEWER], "GET", f"{service.api_url}/api/v1/devices", 200, params=params
        )
        if page["value"]:
            failures.append(f"alpha GET /api/v1/devices {params}: {page['value']}")
    # A page token of tenant B's list is no way into B's list for tenant A.
    page = await expect(
        b.sessions[Role.VIEWER],
        "GET",
        f"{service.api_url}/api/v1/devices",
        200,
        params={"$top": "1"},
    )
    query = parse_qs(urlsplit(page["@odata.nextLink"]).query)
    answer = await send(
        a.sessions[Role.VIEWER],
        "GET",
        f"{service.api_url}/api/v1/devices",
        params={"$top": "1", "$skiptoken": query["$skiptoken"][0]},
    )
    if answer.status == 200:
        leaked = sorted(s for s in b.secrets() if s in answer.text)
        if leaked:
            failures.append(f"alpha with beta's $skiptoken sees {leaked}")
    elif error_ok(answer, 400, "invalid_query"):
        failures.append(f"alpha with beta's $skiptoken: {error_ok(answer, 400, 'invalid_query')}")
    assert not failures, "\n".join(failures)


async def cross_tenant_calls(
    service: RunningService,
    caller: Tenant,
    target: Tenant,
    endpoints: list[Endpoint],
    failures: list[str],
) -> None:
    """Every endpoint, with every role of `caller`, aimed at `target`'s objects."""
    check = (await Watch(service, target.tenant_id, target.label, failures).start()).check
    ids = {kind: target.object_id(kind) for kind in PARAM_KINDS.values()}
    for endpoint in endpoints:
        path = fill_path(endpoint, ids)
        for role in ROLES:
            where = f"{caller.label}/{role.value} {endpoint.method} {path} ({target.label}'s ids)"
            answer = await send(
                caller.sessions[role],
                endpoint.method,
                service.api_url + path,
                body=admin_body(endpoint, caller, target),
                params=query_for(endpoint, target),
            )
            status, code = expected(endpoint, role, other=True)
            if problem := error_ok(answer, status, code):
                failures.append(f"{where}: {problem}")
            if answer.status >= 300 or not answer.text:
                continue
            if leaked := sorted(s for s in target.generated_ids() if s in answer.text):
                failures.append(f"{where}: answer shows {target.label}'s {leaked}")
            if endpoint.body is MdmEnrollment and answer.json()["outcome"] not in (
                "created",
                "known",  # the operator's call before created it in the caller's tenant
            ):
                failures.append(f"{where}: {target.label}'s Entra id links: {answer.json()}")
            if endpoint.query is DeviceQuery:
                body = answer.json() if answer.text.startswith("{") else None
                rows = body["value"] if body else answer.text.strip().splitlines()[1:]
                if rows:
                    failures.append(f"{where}: lists devices of {target.label}'s hierarchy: {rows}")
        await check(f"{caller.label} {endpoint.method} {path} ({target.label}'s ids)")


@MODULE
async def test_every_admin_endpoint_role_and_tenant(service: RunningService) -> None:
    a, b = await world(service)
    failures: list[str] = []
    endpoints = admin_endpoints()
    # (a) A's credentials, B's ids: 404 (403 when the role is short) and B unchanged;
    # then the same the other way round.
    await cross_tenant_calls(service, a, b, endpoints, failures)
    await cross_tenant_calls(service, b, a, endpoints, failures)

    # (b) own tenant: success for sufficient roles, 403 and nothing changed otherwise.
    check_b = (await Watch(service, b.tenant_id, "beta", failures).start()).check
    for endpoint in endpoints:
        ids: dict[Role, dict[str, str]] = {}
        for role in ROLES:
            ids[role] = {"token": a.token_ids[role], "hierarchy": a.hierarchy_id}
            ids[role] |= {"connector": a.connector_id, "device": a.device_ids[0]}
            ids[role] |= {"action": a.object_id("action"), "script": a.object_id("script")}
            ids[role] |= {"rollout_order": a.object_id("rollout_order")}
            if endpoint.method != "GET":
                for name in PARAM.findall(endpoint.path):
                    kind = PARAM_KINDS[name]
                    ids[role][kind] = await disposable(service, a, kind, role)
        a_before = await snapshot(service, a.tenant_id)
        assert endpoint.role is not None
        refused = [r for r in ROLES if r.rank < endpoint.role.rank]
        for role in sorted(ROLES, key=lambda r: r not in refused):
            if role not in refused and refused:
                diff = changed_tables(a_before, await snapshot(service, a.tenant_id))
                if diff:
                    where = f"alpha {endpoint.method} {endpoint.path}"
                    failures.append(f"{where}: refused, yet changed alpha: {diff}")
                refused = []
            path = fill_path(endpoint, ids[role])
            where = f"alpha/{role.value} {endpoint.method} {path} (own ids)"
            answer = await send(
                a.sessions[role],
                endpoint.method,
                service.api_url + path,
                body=admin_body(endpoint, a, a),
                params=query_for(endpoint, a),
            )
            status, code = expected(endpoint, role, other=False)
            if problem := error_ok(answer, status, code):
                failures.append(f"{where}: {problem}")
        await check_b(f"alpha {endpoint.method} {endpoint.path} (own ids)")

    # Within a tenant, operators act only on their own tokens; viewers on none.
    viewer, operator = a.sessions[Role.VIEWER], a.sessions[Role.OPERATOR]
    for session, role in ((viewer, Role.VIEWER), (operator, Role.OPERATOR)):
        other_token = await disposable(service, a, "token", Role.ADMIN)
        a_before = await snapshot(service, a.tenant_id)
        answer = await send(session, "DELETE", f"{service.api_url}/api/v1/tokens/{other_token}")
        refused = (403, "forbidden") if role is Role.VIEWER else (404, "not_found")
        if problem := error_ok(answer, *refused):
            failures.append(f"alpha/{role.value} revokes the admin's token: {problem}")
        answer = await send(
            session,
            "POST",
            f"{service.api_url}/api/v1/tokens",
            body={"name": "x", "principalId": a.principal_ids[Role.ADMIN]},
        )
        if problem := error_ok(answer, 403, "forbidden"):
            failures.append(f"alpha/{role.value} makes a token for the admin: {problem}")
        tokens = await expect(session, "GET", f"{service.api_url}/api/v1/tokens", 200)
        if {t["principalId"] for t in tokens["value"]} != {a.principal_ids[role]}:
            failures.append(f"alpha/{role.value} lists others' tokens: {tokens['value']}")
        if diff := changed_tables(a_before, await snapshot(service, a.tenant_id)):
            failures.append(f"alpha/{role.value} changed alpha by refused calls: {diff}")

    # After all of it, alpha's lists still hold nothing beta's service minted.
    for endpoint in endpoints:
        if endpoint.method == "GET" and not PARAM.search(endpoint.path):
            answer = await send(a.sessions[Role.ADMIN], "GET", service.api_url + endpoint.path)
            leaked = sorted(s for s in b.generated_ids() if s in answer.text)
            if leaked:
                failures.append(f"alpha GET {endpoint.path} after the matrix: beta's {leaked}")
    # Beta's own credentials still work on all of beta's objects.
    for kind in ("hierarchy", "device"):
        path = {"hierarchy": "hierarchies", "device": "devices"}[kind]
        await expect(
            b.sessions[Role.VIEWER],
            "GET",
            f"{service.api_url}/api/v1/{path}/{b.object_id(kind)}",
            200,
        )
    assert not failures, f"{len(failures)} isolation failures:\n" + "\n".join(failures)


@MODULE
async def test_connector_certificate_is_bound_to_its_tenant_and_hierarchy(
    service: RunningService,
) -> None:
    a, b = await world(service)
    assert a.connector is not None
    curl = service.connector_url
    failures: list[str] = []
    watch_b = await Watch(service, b.tenant_id, "beta", failures).start()
    check_b = watch_b.check

    connector_endpoints = [e for e in all_endpoints() if e.auth == "connector"]
    assert connector_endpoints
    assert not [p for e in connector_endpoints for p in classify(e)]
    for endpoint in connector_endpoints:
        where = f"alpha's connector {endpoint.method} {endpoint.path}"
        body: dict[str, Any] = {}
        if endpoint.body is RenewRequest:
            body = {"csrPem": new_key_and_csr()[1]}
        elif endpoint.body is HierarchyRegistration:
            body = {"hierarchyId": b.hierarchy_id, "siteCode": b.site_code}
        elif endpoint.body is Heartbeat:
            body = {"status": {"siteDevices": 999}}
        elif endpoint.body is IngestBatch:
            records = device_records(b.label, b.numbers, version="forged")
            body = batch_body(b.hierarchy_id, 99, records, tombstones=b.smsids)
        elif endpoint.body is AuthorityCommandBatch:
            body = authority_commands(b.smsids)  # beta's devices, in alpha's own hierarchy
        elif endpoint.body is AuthorityReport:
            body = authority_report(b.smsids)
        elif endpoint.body is DirectoryComputerBatch:
            body = directory_computers(b.connector_id, b.numbers[0], b.label)
        elif endpoint.body is ActionStarted:
            body = {"actionId": b.action_ids[0]}  # beta's action: not alpha's to run
        elif endpoint.body is ActionResult:
            body = {"actionId": b.action_ids[0], "state": "succeeded", "output": "forged"}
        elif endpoint.body is AuditUpload:
            # Entries naming beta's hierarchy start alpha's own chain, never touch beta's.
            body = upload_body(f"{b.hierarchy_id}/{b.connector_id}")
        elif endpoint.body is RolloutOrderResult:
            body = {"state": "done", "result": {"forged": True}}  # for beta's order: not found
        elif endpoint.body is RolloutStatusReport:
            body = rollout_status("aborted", 1).wire()  # alpha's own report, never beta's
        names_beta_action = endpoint.body in (ActionStarted, ActionResult)
        # A path parameter names beta's object (its rollout order): not alpha's connector's.
        names_beta_action = names_beta_action or bool(PARAM.search(endpoint.path))
        path = fill_path(endpoint, {k: b.object_id(k) for k in PARAM_KINDS.values()})
        targets_hierarchy = (
            endpoint.body is not None and "hierarchy_id" in endpoint.body.model_fields
        )
        answer = await send(a.connector, endpoint.method, curl + path, body=body)
        if targets_hierarchy:
            if problem := error_ok(answer, 403, "wrong_hierarchy"):
                failures.append(f"{where} naming beta's hierarchy: {problem}")
        elif names_beta_action:
            if problem := error_ok(answer, 404, "not_found"):
                failures.append(f"{where} naming beta's action: {problem}")
        elif answer.status >= 300:
            failures.append(f"{where}: {answer.status} {answer.text[:200]}")
        else:
            got = answer.json()
            for key, own in (("tenantId", a.tenant_id), ("hierarchyId", a.hierarchy_id)):
                if key in got and got[key] != own:
                    failures.append(f"{where}: answered {key} {got[key]} (alpha's is {own})")
            if leaked := sorted(s for s in b.generated_ids() if s in answer.text):
                failures.append(f"{where}: answer shows beta's {leaked}")
        await check_b(where)
        # An admin token is no connector credential, on any connector endpoint.
        if endpoint.listener in ("connector", "both"):
            answer = await send(a.sessions[Role.ADMIN], endpoint.method, curl + path, body=body)
            if problem := error_ok(answer, 401, "certificate_required"):
                failures.append(f"alpha's admin token on {endpoint.path}: {problem}")
        await check_b(where)

    # The same hierarchy id in another tenant is another hierarchy: a connector of
    # alpha enrolled for "H-BETA" writes alpha's H-BETA, never beta's.
    code = await bootstrap.create_attach_code(service.state, a.tenant_id, 1, None)
    enrolled, twin = await enroll(service, code, b.hierarchy_id, b.site_code)
    assert enrolled["tenantId"] == a.tenant_id
    registration = {"hierarchyId": b.hierarchy_id, "siteCode": "XX9", "siteName": "twin"}
    await expect(twin, "PUT", f"{curl}/connector/v1/hierarchy", 200, body=registration)
    await expect(twin, "POST", f"{curl}/connector/v1/heartbeat", 200, body={})
    forged = device_records(b.label, b.numbers, version="forged")
    # One more device carrying the Entra id of beta's MDM-only device: nothing to link in alpha.
    forged.append(record(999, aad_device_id=b.aad_ids[-1]).wire())
    ack = await expect(
        twin,
        "POST",
        f"{curl}/connector/v1/ingest",
        200,
        body=batch_body(b.hierarchy_id, 1, forged),
    )
    assert ack["upserted"] == len(forged)
    await check_b("alpha's twin connector ingests into its H-BETA")
    # What the twin may adopt is alpha's H-BETA only, never beta's devices of the same SMSIDs.
    listed = await expect(twin, "GET", f"{curl}/connector/v1/devices", 200)
    if {d["contentHash"] for d in listed["value"]} != {r["contentHash"] for r in forged}:
        failures.append("alpha's twin connector lists devices that are not alpha's")
    # Entra ids are matched within a tenant: each tenant's enrollment links to its own
    # device, and the other tenant's device with the same id is no second candidate.
    for who in (b, a):
        outcome = await expect(
            who.sessions[Role.OPERATOR],
            "POST",
            f"{service.api_url}/api/v1/managedDevices",
            201,
            body={"azureAdDeviceId": aad_id(b.numbers[0]), "deviceName": "shared-entra-id"},
        )
        if outcome["outcome"] != "linked":
            failures.append(f"{who.label}'s MDM enrollment of a shared Entra id: {outcome}")
        if who is b and outcome["id"] not in b.device_ids:
            failures.append(f"beta's MDM enrollment linked to {outcome['id']}, not beta's device")
        if who is a and outcome["id"] in b.device_ids:
            failures.append(f"alpha's MDM enrollment linked to beta's device {outcome['id']}")
        if who is b:
            await watch_b.start()  # beta's own enrollment changed beta, as it should
    await check_b("alpha's MDM enrollment of beta's Entra id")
    ack = await expect(
        twin,
        "POST",
        f"{curl}/connector/v1/ingest",
        200,
        body=batch_body(b.hierarchy_id, 2, [], tombstones=b.smsids),
    )
    assert ack["tombstoned"] == len(b.numbers)
    await check_b("alpha's twin connector of H-BETA")
    hierarchies = await expect(
        b.sessions[Role.VIEWER], "GET", f"{service.api_url}/api/v1/hierarchies", 200
    )
    [mine] = hierarchies["value"]
    assert (mine["siteCode"], mine["deviceCount"]) == (b.site_code, len(b.numbers))
    # Beta's admin cannot revoke alpha's twin; alpha's admin cannot revoke beta's connector.
    for who, target in ((b, enrolled["connectorId"]), (a, b.connector_id)):
        answer = await send(
            who.sessions[Role.ADMIN],
            "POST",
            f"{service.api_url}/api/v1/connectors/{target}/revoke",
        )
        if problem := error_ok(answer, 404, "not_found"):
            failures.append(f"{who.label} revokes the other tenant's connector: {problem}")
    await check_b("revocations across tenants")
    # Beta's connector still works.
    assert b.connector is not None
    await expect(b.connector, "POST", f"{curl}/connector/v1/heartbeat", 200, body={})
    assert not failures, "\n".join(failures)


@MODULE
async def test_credentials_only_work_on_their_own_listener(service: RunningService) -> None:
    a, _ = await world(service)
    assert a.connector is not None
    failures: list[str] = []
    token = a.tokens[Role.ADMIN]
    for endpoint in all_endpoints():
        path = fill_path(endpoint, dict.fromkeys(PARAM_KINDS.values(), "x"))
        body = {} if endpoint.body is not None else None
        if endpoint.listener == "connector":
            # Connector routes do not exist on the admin listener, whatever the credential.
            session = service.session(token=token)
            answer = await send(session, endpoint.method, service.api_url + path, body=body)
            if problem := error_ok(answer, 404, "not_found"):
                failures.append(f"{endpoint.method} {path} on the admin listener: {problem}")
        if endpoint.listener == "admin":
            # Admin routes do not exist on the connector listener, even with a certificate.
            for session in (service.session(token=token), a.connector):
                answer = await send(
                    session, endpoint.method, service.connector_url + path, body=body
                )
                if problem := error_ok(answer, 404, "not_found"):
                    failures.append(
                        f"{endpoint.method} {path} on the connector listener: {problem}"
                    )
    # A connector certificate is no admin credential.
    answer = await send(a.connector, "GET", f"{service.api_url}/api/v1/devices")
    if problem := error_ok(answer, 401, "unauthenticated"):
        failures.append(f"connector certificate on the admin API: {problem}")
    assert not failures, "\n".join(failures)


@MODULE
async def test_device_secrets_reach_only_their_own_device(service: RunningService) -> None:
    a, b = await world(service)
    assert a.connector is not None
    api, curl = service.api_url, service.connector_url
    failures: list[str] = []
    watch_b = await Watch(service, b.tenant_id, "beta", failures).start()
    device_endpoints = [e for e in all_endpoints() if e.auth == "device"]
    assert device_endpoints
    assert not [p for e in device_endpoints for p in classify(e)]

    # A twin of beta in alpha: alpha's connector for beta's hierarchy id, with beta's
    # SMSIDs and Entra ids, granting other workloads. Beta's devices never see them.
    code = await bootstrap.create_attach_code(service.state, a.tenant_id, 1, None)
    _, twin = await enroll(service, code, b.hierarchy_id, b.site_code)
    registration = {"hierarchyId": b.hierarchy_id, "siteCode": b.site_code}
    await expect(twin, "PUT", f"{curl}/connector/v1/hierarchy", 200, body=registration)
    forged = batch_body(b.hierarchy_id, 1, device_records(b.label, b.numbers, version="twin"))
    await expect(twin, "POST", f"{curl}/connector/v1/ingest", 200, body=forged)
    grants = {
        "commands": [
            {"op": "grant", "workload": "officeApps", "epoch": 9, "smsid": s} for s in b.smsids
        ]
    }
    await expect(twin, "POST", f"{curl}/connector/v1/authority/commands", 200, body=grants)
    await watch_b.check("alpha's twin grants beta's SMSIDs in alpha")
    page = await expect(
        a.sessions[Role.ADMIN], "GET", f"{api}/api/v1/devices", 200, params={"$top": "1000"}
    )
    [twin_device] = [
        d["id"]
        for d in page["value"]
        if d["smsid"] == b.smsids[0] and d["hierarchyId"] == b.hierarchy_id
    ]
    issued = await expect(
        a.sessions[Role.OPERATOR],
        "POST",
        f"{api}/api/v1/devices/{twin_device}/checkinCredential",
        201,
    )
    expected = {
        a.device_secret: ["compliancePolicy"],
        b.device_secret: ["compliancePolicy"],
        issued["secret"]: ["officeApps"],
    }
    for endpoint in device_endpoints:
        url = api + endpoint.path
        for secret, workloads in expected.items():
            mine = b if secret == b.device_secret else a
            other = a if mine is b else b
            answer = await send(service.session(token=secret), endpoint.method, url)
            where = f"{mine.label}'s device secret {endpoint.method} {endpoint.path}"
            if answer.status != 200:
                failures.append(f"{where}: {answer.status} {answer.text[:200]}")
                continue
            got = [w["workload"] for w in answer.json()["workloads"]]
            if got != workloads:
                failures.append(f"{where}: delivered {got}, not {workloads}")
            if leaked := sorted(s for s in other.generated_ids() if s in answer.text):
                failures.append(f"{where}: answer shows {other.label}'s {leaked}")
            if mine is b:
                await watch_b.start()  # beta's own check-in logs its delivery, as it should
            else:
                await watch_b.check(where)
        # API tokens (any role, any tenant) and certificates are no device secrets.
        for tenant, role in itertools.product((a, b), ROLES):
            answer = await send(tenant.sessions[role], endpoint.method, url)
            if problem := error_ok(answer, 401, "invalid_token"):
                failures.append(f"{tenant.label}/{role.value} token on {endpoint.path}: {problem}")
        answer = await send(a.connector, endpoint.method, url)
        if problem := error_ok(answer, 401, "unauthenticated"):
            failures.append(f"a connector certificate on {endpoint.path}: {problem}")
        await watch_b.check(f"device calls of {endpoint.path}")

    # A device secret is no API token, on any admin endpoint.
    device = service.session(token=a.device_secret)
    ids = {kind: a.object_id(kind) for kind in PARAM_KINDS.values()}
    for endpoint in admin_endpoints():
        path = fill_path(endpoint, ids)
        answer = await send(device, endpoint.method, api + path, body=admin_body(endpoint, a, a))
        if problem := error_ok(answer, 401, "invalid_token"):
            failures.append(f"alpha's device secret on {endpoint.method} {path}: {problem}")
    await watch_b.check("alpha's device secret on the admin API")
    assert not failures, "\n".join(failures)
