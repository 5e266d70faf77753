"""Device check-in (the cloud side's gate) and the device secrets it authenticates with.

Served on the admin/API listener: devices reach the service's public HTTPS
endpoint with a bearer secret, like automation does; the connector listener
is for enrolled connectors' client certificates only. A device secret is
neither an API token nor a connector credential, and those are not device
secrets: each kind is refused where the other is expected.
"""

from __future__ import annotations

from datetime import UTC

from cloud.contract.admin import Role
from cloud.contract.authority_checkin import (
    CheckInCredentialOut,
    CheckInOut,
    CheckInWorkload,
    PolicyRef,
)
from cloud.service.api import Api, Call
from cloud.service.errors import ApiError
from cloud.service.routes_common import audit
from cloud.store import authority_checkin as store
from workloads.catalog import Workload

api = Api()


def policies(workload: Workload) -> list[PolicyRef]:
    """The policies the tenant delivers for a workload (one baseline each, for now)."""
    return [PolicyRef(id=f"{workload.value}-baseline", version=1)]


@api.route(
    "POST",
    "/api/v1/devices/{deviceId}/checkinCredential",
    role=Role.OPERATOR,
    response=CheckInCredentialOut,
    status=201,
    tags=("devices",),
    auth="admin",
    listener="admin",
)
async def issue_checkin_credential(call: Call) -> CheckInCredentialOut:
    """Issue the device's check-in secret (shown once; it replaces the device's earlier ones)."""
    device_id = call.param("deviceId")
    now = call.state.clock()
    principal = call.principal
    assert principal is not None
    async with call.state.engine.begin() as conn:
        try:
            issued = await store.issue_credential(
                conn, call.tenant_id, device_id, created_by=principal.principal_id, now=now
            )
        except store.NoEntraId as exc:
            raise ApiError("conflict", exc.message) from None
        if issued is None:
            raise ApiError("not_found", "no such device in this tenant")
        credential_id, secret = issued
        await audit(conn, call, "device.checkin_credential", device_id, {"id": credential_id})
    return CheckInCredentialOut(
        device_id=device_id,
        credential_id=credential_id,
        secret=secret,
        created_at=now.replace(tzinfo=UTC),
    )


@api.route(
    "POST",
    "/device/v1/checkin",
    response=CheckInOut,
    tags=("devices",),
    auth="device",
    listener="admin",
)
async def check_in(call: Call) -> CheckInOut:
    """A device fetches its policies: only the workloads the cloud holds for it, with their epochs.

    A device not attached to a hierarchy (MDM only) gets none: without a
    site key there is no authority record, and the site holds every workload.
    """
    credential = call.device
    assert credential is not None
    clock = call.state.clock
    async with call.state.engine.begin() as conn:
        device = await store.resolve_device(conn, credential)
        if device is None or device.hierarchy_id is None or device.smsid is None:
            device_id = device.device_id if device else credential.device_id
            return CheckInOut(device_id=device_id, at=clock().replace(tzinfo=UTC))
        held, at = await store.deliver(
            conn, credential.tenant_id, device.hierarchy_id, device.smsid, clock
        )
    return CheckInOut(
        device_id=device.device_id,
        at=at.replace(tzinfo=UTC),
        workloads=[
            CheckInWorkload(workload=w, epoch=epoch, policies=policies(w)) for w, epoch in held
        ],
    )
