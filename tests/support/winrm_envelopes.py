"""WS-Management envelopes as a Windows WinRM service writes them, for the mocked endpoint.

Answers (`ok`), faults (`fault`: HTTP 500 with `s:Fault`, a WS-Man subcode and
the service's numeric code), the 401 challenge, and the failures a test can
inject per host and step (`failure`: refused or reset connections, read
timeouts, garbled or unrelated answers, 5xx without a fault).
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

Answer = tuple[int, dict[str, str], str]
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "create",
    f"{SHELL}/Command": "command",
    f"{SHELL}/Receive": "receive",
    f"{SHELL}/Signal": "signal",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "delete",
}
REPLY_ACTIONS = {
    "create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
    "command": f"{SHELL}/CommandResponse",
    "receive": f"{SHELL}/ReceiveResponse",
    "signal": f"{SHELL}/SignalResponse",
    "delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
}
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
OPERATION_TIMEOUT_CODE = 2150858793

CHALLENGE = {"WWW-Authenticate": 'Negotiate, Basic realm="WSMAN"', "Content-Length": "0"}


def find_text(root: ET.Element, path: str) -> str:
    """The stripped text at `path` (empty when absent)."""
    return (root.findtext(path, "", NS) or "").strip()


def option_value(root: ET.Element, name: str) -> str | None:
    """The value of a header `w:Option` by name."""
    for option in root.iterfind("s:Header/w:OptionSet/w:Option", NS):
        if option.get("Name") == name:
            return (option.text or "").strip()
    return None


def requested_operation_timeout(root: ET.Element, default: float = 60.0) -> float:
    """Seconds of the request's `w:OperationTimeout` (`PT20.000S`), or `default`."""
    text = find_text(root, "s:Header/w:OperationTimeout")
    found = re.fullmatch(r"PT(\d+(?:\.\d+)?)S", text)
    return float(found.group(1)) if found else default


def selected_shell(root: ET.Element) -> str:
    """The ShellId the request's SelectorSet names (empty when none)."""
    for selector in root.iterfind("s:Header/w:SelectorSet/w:Selector", NS):
        if selector.get("Name") == "ShellId":
            return (selector.text or "").strip()
    return ""


def authorized(request: requests.PreparedRequest, credentials: tuple[str, str]) -> bool:
    """Whether the request carries these basic-auth credentials."""
    header = request.headers.get("Authorization", "")
    expected = base64.b64encode(":".join(credentials).encode()).decode()
    return header == f"Basic {expected}"


def b64(data: bytes) -> str:
    """Bytes as a base64 stream body."""
    return base64.b64encode(data).decode("ascii")


def envelope(action: str, relates_to: str, body: str) -> str:
    """A SOAP envelope answering the request `relates_to` names."""
    return (
        '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        f'xmlns:rsp="{SHELL}" '
        'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:Action>{action}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )


def reply(step: str, relates_to: str, body: str) -> Answer:
    """A 200 answer to a step (create, command, receive, signal, delete)."""
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    return 200, headers, envelope(REPLY_ACTIONS[step], relates_to, body)


def soap_fault(relates_to: str, code: str, subcode: str, reason: str, wsman_code: int) -> Answer:
    """A WS-Management fault as Windows sends it: HTTP 500, `s:Fault`, a `WSManFault` code."""
    body = (
        f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>'
        "<s:Detail><f:WSManFault "
        'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        f'Code="{wsman_code}" Machine="host"><f:Message>{reason}</f:Message></f:WSManFault>'
        "</s:Detail></s:Fault>"
    )
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    return 500, headers, envelope(FAULT_ACTION, relates_to, body)


def invalid_selectors(relates_to: str, shell_id: str) -> Answer:
    """The fault for a request naming a shell the service does not have."""
    reason = (
        "The WS-Management service cannot process the request because the request "
        f"contained invalid selectors for the resource. (ShellId {shell_id} not found)"
    )
    return soap_fault(relates_to, "s:Sender", "w:InvalidSelectors", reason, 2150858843)


def operation_timeout(relates_to: str) -> Answer:
    """The fault a Receive gets when no output came within the operation timeout."""
    reason = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."
    return soap_fault(relates_to, "s:Receiver", "w:TimedOut", reason, OPERATION_TIMEOUT_CODE)


def injected_failure(kind: str, host: str, step: str, message_id: str) -> Answer | Exception:
    """The answer (or the exception `responses` raises) for an injected failure `kind`."""
    url = f"https://{host}/wsman"
    if kind == "unreachable":
        refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
        return requests.exceptions.ConnectionError(MaxRetryError(None, url, refused))  # type: ignore[arg-type]
    if kind == "reset":
        return requests.exceptions.ConnectionError("Connection reset by peer")
    if kind == "timeout":
        return requests.exceptions.ReadTimeout(f"read timed out ({step})")
    if kind == "unauthorized":
        return 401, CHALLENGE, ""
    if kind == "forbidden":
        return 403, {}, ""
    if kind == "garbled":
        return 200, {"Content-Type": "application/soap+xml"}, "<s:Envelope><s:Body>\x00half an ans"
    if kind == "unrelated":
        return reply(step, f"uuid:{uuid.uuid4()}", "")
    if kind == "http500":
        return 500, {"Content-Type": "text/html"}, "<html><body>Internal Server Error</body></html>"
    if kind == "http503":
        return 503, {"Content-Type": "text/html"}, "<html><body>Service Unavailable</body></html>"
    if kind.startswith("fault:"):
        subcode = kind.partition(":")[2]
        return soap_fault(
            message_id, "s:Receiver", f"w:{subcode}", f"{subcode} injected", 2150858890
        )
    raise ValueError(f"unknown failure kind {kind!r}")
