"""The WinRM adapter: client actions on devices (TriggerSchedule, approved scripts, restarts).

`WinRMClient` runs one command per call over pywinrm's WS-Management
Protocol, configured by `WinRMConfig`; failures are `onprem.errors.WinRMError`
subclasses that say whether another attempt may succeed and whether the
command may have reached the device.
"""

from onprem.winrm.client import CommandOutput, ScheduleOutcome, WinRMClient
from onprem.winrm.commands import SCHEDULES, schedule_id, script_digest
from onprem.winrm.config import DEFAULT_PORTS, WinRMConfig

__all__ = [
    "DEFAULT_PORTS",
    "SCHEDULES",
    "CommandOutput",
    "ScheduleOutcome",
    "WinRMClient",
    "WinRMConfig",
    "schedule_id",
    "script_digest",
]
