"""The command lines the WinRM adapter runs on a device, and how their output is read.

PowerShell is always started with `-EncodedCommand` (the script as UTF-16LE,
base64), so no quoting of the script's text can break the command line.
Client schedules come from DOMAIN.md's table only: a schedule id is checked
against it before anything is sent. A script's text must hash (SHA-256 over
its UTF-8 bytes) to the digest it was approved with.
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET

# DOMAIN.md, client actions: TriggerSchedule ids {00000000-0000-0000-0000-000000000NNN}.
SCHEDULES: dict[str, str] = {
    "001": "hardware inventory",
    "002": "software inventory",
    "003": "discovery data record",
    "021": "machine policy retrieval",
    "022": "machine policy evaluation",
    "026": "user policy retrieval",
    "027": "user policy evaluation",
    "108": "software updates assignment evaluation",
    "113": "software update scan",
    "121": "application deployment evaluation",
}
_SCHEDULE_GUID = re.compile(r"^\{?00000000-0000-0000-0000-000000000(\d{3})\}?$")
# CreateProcess takes 32767 characters; keep room for the program and flags.
MAX_COMMAND_LINE = 32_000
POWERSHELL = "powershell.exe"
POWERSHELL_FLAGS = ("-NoLogo", "-NoProfile", "-NonInteractive")
# Progress records would reach stderr as CLIXML: silence them first.
_PREAMBLE = "$ProgressPreference = 'SilentlyContinue'\n"
RETURN_MARKER = "cobridge-return-value:"
RESTART_MAX_DELAY = 315_360_000  # shutdown.exe's own limit for /t
RESTART_COMMENT = "cobridge: restart requested from the cloud tenant"


def schedule_id(value: str) -> str:
    """The braced TriggerSchedule id for `value` ("021" or the full id); ValueError if unknown."""
    text = value.strip()
    found = _SCHEDULE_GUID.match(text)
    number = found.group(1) if found else text.zfill(3) if text.isdigit() else None
    if number not in SCHEDULES:
        known = ", ".join(SCHEDULES)
        raise ValueError(f"{value[:60]!r} is not a client schedule this connector runs ({known})")
    return f"{{00000000-0000-0000-0000-000000000{number}}}"


def encode_powershell(script: str) -> str:
    """`script` as PowerShell's -EncodedCommand wants it: UTF-16LE, base64."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def decode_powershell(encoded: str) -> str:
    """The script an -EncodedCommand argument carries (the inverse of `encode_powershell`)."""
    return base64.b64decode(encoded).decode("utf-16-le")


def powershell_arguments(script: str) -> list[str]:
    """Arguments to `powershell.exe` that run `script` (ValueError if it is too long)."""
    encoded = encode_powershell(_PREAMBLE + script)
    arguments = [*POWERSHELL_FLAGS, "-EncodedCommand", encoded]
    if len(POWERSHELL) + sum(len(a) + 1 for a in arguments) > MAX_COMMAND_LINE:
        raise ValueError(
            f"the script is {len(script)} characters; encoded it exceeds a command line "
            f"({MAX_COMMAND_LINE} characters, about {MAX_COMMAND_LINE * 3 // 8} of script)"
        )
    return arguments


def trigger_schedule_script(schedule: str) -> str:
    """PowerShell calling the agent's TriggerSchedule and printing its ReturnValue."""
    sid = schedule_id(schedule)
    return (
        "$ErrorActionPreference = 'Stop'\n"
        "$result = Invoke-CimMethod -Namespace root\\ccm -ClassName SMS_Client "
        f"-MethodName TriggerSchedule -Arguments @{{sScheduleID='{sid}'}}\n"
        f"[Console]::Out.Write('{RETURN_MARKER}' + [string]$result.ReturnValue)\n"
    )


def parse_return_value(stdout: str) -> int | None:
    """The ReturnValue printed by `trigger_schedule_script` (None: the method returned none).

    ValueError when the output does not carry one: the answer is not ours.
    """
    found = re.search(re.escape(RETURN_MARKER) + r"(-?\d*)\s*$", stdout)
    if found is None:
        raise ValueError("the output carries no TriggerSchedule ReturnValue")
    return int(found.group(1)) if found.group(1) not in ("", "-") else None


def script_digest(script: str) -> str:
    """The SHA-256 (hex) a script is approved with: over its text as UTF-8."""
    return hashlib.sha256(script.encode("utf-8")).hexdigest()


def restart_arguments(delay_seconds: int) -> list[str]:
    """Arguments to `shutdown.exe` restarting after `delay_seconds` (ValueError if out of range)."""
    if not 0 <= delay_seconds <= RESTART_MAX_DELAY:
        raise ValueError(f"a restart delay of {delay_seconds} s is outside 0-{RESTART_MAX_DELAY}")
    # p:4:1 records a planned, application-maintenance restart in the device's event log.
    return ["/r", "/t", str(delay_seconds), "/d", "p:4:1", "/c", f'"{RESTART_COMMENT}"']


def readable_stderr(raw: str) -> str:
    """PowerShell's stderr as text: a `#< CLIXML` error stream becomes its error lines."""
    if not raw.startswith("#< CLIXML"):
        return raw
    try:
        # Output of our own command, parsed as pywinrm parses its answers (no external entities).
        root = ET.fromstring(raw.split("\n", 1)[1] if "\n" in raw else "")  # noqa: S314
    except ET.ParseError:
        return raw
    lines = [
        node.text.replace("_x000D__x000A_", "\n")
        for node in root.iter()
        if node.tag.endswith("}S") and node.get("S") == "Error" and node.text
    ]
    return "".join(lines) if lines else raw
