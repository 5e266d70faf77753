"""Device check-in on the wire: what an enrolled device fetches, and its credential.

A device checks in with `Authorization: Bearer <device secret>`; the secret
is issued by an operator (`POST /api/v1/devices/{deviceId}/checkinCredential`)
for a device with an Entra device id, shown once, and stored only hashed.
The answer lists the workloads the cloud gate holds for the device, each with
the epoch of its grant and the policies delivered under it (DESIGN.md
section 7: the cloud side's gate).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from cloud.contract.naming import CamelResponse
from workloads.catalog import Workload


class PolicyRef(CamelResponse):
    """One policy of a workload, by id and version."""

    id: str
    version: int


class CheckInWorkload(CamelResponse):
    """A workload the cloud holds for the device: its grant's epoch and its policies."""

    workload: Workload
    epoch: int
    policies: list[PolicyRef]


class CheckInOut(CamelResponse):
    """The device's check-in: only the workloads the cloud gate holds for it (catalog order)."""

    device_id: str
    at: datetime
    workloads: list[CheckInWorkload] = Field(default_factory=list)


class CheckInCredentialOut(CamelResponse):
    """A device's check-in secret, shown this once; it replaces any earlier one."""

    device_id: str
    credential_id: str
    secret: str
    created_at: datetime
