"""The device-action pages over HTTP, on SQLite and PostgreSQL: the forms keep the API's rules.

Operators and admins only, the session's CSRF token, the session's tenant,
the same checks and audit entries as the API (the pages call its handlers).
The flows themselves are driven in Chromium in tests/system/browser/test_actions.py.
"""

from __future__ import annotations

import re

import aiohttp
import pytest

from cloud.contract.actions import ActionState
from cloud.contract.admin import Role
from tests.support.action_world import Made, attached_devices
from tests.support.admin_center import PASSWORD, csrf_of, new_session, sign_in
from tests.support.cloud_service import RunningService
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client

MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


async def signed_in(service: RunningService, made: Made, role: Role) -> aiohttp.ClientSession:
    """A cookie-keeping client signed in as the tenant's user of `role`."""
    http = new_session()
    tenant = made.tenant
    status, _ = await sign_in(http, service.api_url, tenant.name, tenant.user(role), PASSWORD)
    assert status == 303
    return http


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """GET a page; (status, text)."""
    async with http.get(url, allow_redirects=False) as r:
        return r.status, await r.text()


async def post(http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, str]:
    """POST a form; (status, Location or page text)."""
    async with http.post(url, data=form, allow_redirects=False) as r:
        return r.status, r.headers.get("Location") or await r.text()


@MODULE
async def test_only_operators_with_the_sessions_token_ask(service: RunningService) -> None:
    made = await attached_devices(service)
    device = made.devices["WKS00001"]
    url = f"{service.api_url}/devices/{device}/actions"
    viewer = await signed_in(service, made, Role.VIEWER)
    operator = await signed_in(service, made, Role.OPERATOR)
    try:
        status, text = await get(viewer, f"{service.api_url}/devices/{device}")
        assert status == 200
        assert 'name="kind"' not in text, "a viewer gets no action form"
        status, text = await post(
            viewer, url, {"csrf": csrf_of(text), "kind": "machinePolicyRetrieval"}
        )
        assert status == 403
        assert "Only an operator or an admin" in text
        status, text = await post(operator, url, {"kind": "machinePolicyRetrieval"})
        assert (status, "Form expired" in text) == (403, True)
        _, page = await get(operator, f"{service.api_url}/devices/{device}")
        token = csrf_of(page)
        for form, problem in (
            ({"kind": "reboot"}, "action"),
            ({"kind": "runScript", "script": "not-a-script"}, "scriptId"),
            ({"kind": "restart", "delay": "100000"}, "delayMinutes"),
        ):
            status, text = await post(operator, url, {"csrf": token, **form})
            assert (status, "Not a valid action" in text, problem in text) == (400, True, True)
        async with admin_client(service, made.token) as admin:
            assert (await admin.list_actions()).value == [], "refused forms queue nothing"
            status, location = await post(
                operator, url, {"csrf": token, "kind": "softwareUpdateScan"}
            )
            assert (status, location) == (303, f"/devices/{device}#actions")
            [action] = (await admin.list_actions()).value
            assert (action.kind.value, action.state) == ("softwareUpdateScan", ActionState.QUEUED)
            assert action.requested_by == made.tenant.user(Role.OPERATOR)
        audit = f"{service.api_url}/api/v1/auditLog"
        async with service.session(token=made.token).get(audit) as r:
            entries = [e for e in (await r.json())["value"] if e["action"] == "action.requested"]
        assert [(e["actor"], e["target"]) for e in entries] == [
            (f"principal:{made.tenant.user(Role.OPERATOR)}", action.action_id)
        ]
    finally:
        await viewer.close()
        await operator.close()


@MODULE
async def test_bulk_confirmation_cancel_and_another_tenant(service: RunningService) -> None:
    made = await attached_devices(service)
    other = await attached_devices(service)
    operator = await signed_in(service, made, Role.OPERATOR)
    api = service.api_url
    try:
        status, text = await get(operator, f"{api}/actions/bulk?site=PS1&kind=hardwareInventory")
        assert status == 200
        assert 'data-targets="3"' in text
        token = csrf_of(text)
        confirm = re.search(r'name="confirm_token" value="([0-9a-f]{64})"', text)
        assert confirm is not None
        form = {"csrf": token, "site": "PS1", "kind": "hardwareInventory"}
        stale = {**form, "expected_count": "2", "confirm_token": confirm.group(1)}
        status, text = await post(operator, f"{api}/actions/bulk", stale)
        assert (status, "preview it again" in text) == (409, True)
        status, location = await post(
            operator,
            f"{api}/actions/bulk",
            {**form, "expected_count": "3", "confirm_token": confirm.group(1)},
        )
        assert status == 303
        assert re.fullmatch(r"/actions\?bulk=[0-9a-f-]{36}", location)
        status, text = await get(operator, api + location)
        assert text.count('data-state="queued"') == 3
        action_id = re.search(r'data-action="([0-9a-f-]{36})"', text)
        assert action_id is not None
        cancel = f"{api}/actions/{action_id.group(1)}/cancel"
        status, location = await post(
            operator, cancel, {"csrf": token, "back": "https://elsewhere.example/"}
        )
        assert (status, location) == (303, "/actions"), "never sent off the site"
        status, text = await post(operator, cancel, {"csrf": token})
        assert (status, "can no longer be cancelled" in text) == (409, True)

        # Another tenant's device and actions are not found from this session.
        theirs = other.devices["WKS00001"]
        status, text = await post(
            operator, f"{api}/devices/{theirs}/actions", {"csrf": token, "kind": "restart"}
        )
        assert status == 404
        async with admin_client(service, other.token) as admin:
            assert (await admin.list_actions()).value == []
        status, _ = await get(operator, f"{api}/actions?state=bogus")
        assert status == 400
    finally:
        await operator.close()
