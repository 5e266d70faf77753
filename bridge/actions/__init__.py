"""The action relay: device actions from the cloud tenant, run over WinRM (DESIGN.md section 10).

`ActionRelay` claims actions from an `ActionSource` (the tenant), runs them
through a `DeviceClient` (the WinRM adapter) within concurrency limits, and
reports each `ActionResult`, journalled in the connector's state so that a
restart neither loses a result nor runs a script or restart twice.
"""

from bridge.actions.engine import ActionRelay
from bridge.actions.ports import (
    ActionKind,
    ActionResult,
    ActionSource,
    ClaimedAction,
    DeviceClient,
    ResultState,
)
from bridge.actions.reporting import RelayStats
from bridge.settings_actions import RelayOptions

__all__ = [
    "ActionKind",
    "ActionRelay",
    "ActionResult",
    "ActionSource",
    "ClaimedAction",
    "DeviceClient",
    "RelayOptions",
    "RelayStats",
    "ResultState",
]
