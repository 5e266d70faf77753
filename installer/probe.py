"""Plain HTTPS requests of the installer: reachability, trust and the server's clock.

The checks need what the connector's client hides on purpose: whether the
failure was the network, the certificate chain or the answer, and the
`Date` header of any answer (the service's clock). One request, no retries,
the CA file as the only trust anchor (`cloud.contract.tls.client_context`, as the
connector uses).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from cloud.contract.tls import client_context
from workloads.errors import CobridgeError


class ProbeError(CobridgeError):
    """A request failed; `kind` is `ca`, `unreachable`, `untrusted`, `tls` or `http`."""

    code = "probe_failed"

    def __init__(self, kind: str, message: str, *, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind


@dataclass(frozen=True)
class Answer:
    """What the server answered: status, its clock (from `Date`) and the body."""

    status: int
    date: datetime | None
    body: bytes


def trust(ca_file: Path) -> ssl.SSLContext:
    """A client context trusting only the certificates in `ca_file`."""
    try:
        return client_context(ca_file.read_bytes())
    except OSError as exc:
        raise ProbeError(
            "ca", f"cannot read {ca_file} ({exc.strerror})", hint="name the service root PEM file"
        ) from None
    except (ssl.SSLError, ValueError):
        raise ProbeError(
            "ca",
            f"{ca_file} holds no PEM certificate",
            hint="use the service-root.pem the cloud service publishes",
        ) from None


def request(
    url: str,
    ca_file: Path,
    *,
    method: str = "GET",
    path: str = "/healthz",
    token: str | None = None,
    timeout: float = 10,
) -> Answer:
    """One request to `url` + `path`; `ProbeError` saying which part failed."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{host}:{port}"
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, context=trust(ca_file), timeout=timeout
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, parts.path.rstrip("/") + path, headers=headers)
        reply = conn.getresponse()
        body = reply.read()
    except ssl.SSLCertVerificationError as exc:
        raise ProbeError(
            "untrusted",
            f"the certificate of {where} is not trusted by {ca_file}: {exc.verify_message}",
            hint="set the CA file to the service root that issued the service's certificate "
            "(service-root.pem), and use a host name the certificate names",
        ) from None
    except ssl.SSLError as exc:
        raise ProbeError(
            "tls",
            f"TLS with {where} failed ({exc.reason or exc})",
            hint="check that the URL is the service's HTTPS listener (not a proxy or plain HTTP)",
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        reason = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else exc
        raise ProbeError(
            "unreachable",
            f"cannot reach {where} ({reason})",
            hint="check the host name and port, and that a firewall or proxy lets this host "
            f"connect out to {where}",
        ) from None
    finally:
        conn.close()
    date = reply.getheader("Date")
    try:
        moment = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        moment = None
    return Answer(reply.status, moment, body)


def error_message(answer: Answer) -> str:
    """The service's `{"error": {"message": ...}}`, or the status."""
    try:
        return str(json.loads(answer.body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status}"
