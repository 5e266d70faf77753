"""The errors of the cloud client, and how HTTP answers become them.

Every failure of a call to the tenant service surfaces as a `CloudError`:
`CloudUnavailable` when the service could not be reached or stayed busy
through every attempt (worth trying again later), `CloudApiError` when it
answered with an error (its stable `code` decides what to do), with
`CloudAuthError` for refused credentials, and `CloudTlsError` when the
service's certificate is not trusted. Messages name the operation and the
URL, never a token or a key.
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime

from pydantic import ValidationError

from cloud.contract.errors import ErrorBody
from workloads.errors import CobridgeError

__all__ = [
    "CloudApiError",
    "CloudAuthError",
    "CloudError",
    "CloudProtocolError",
    "CloudTlsError",
    "CloudUnavailable",
    "api_error",
    "retry_after_seconds",
]

_CERTIFICATE_CODES = frozenset(
    {"certificate_required", "certificate_rejected", "certificate_revoked"}
)
_TOKEN_CODES = frozenset({"unauthenticated", "invalid_token", "token_expired"})


class CloudError(CobridgeError):
    """A call to the cloud tenant service failed."""

    code = "cloud_error"


class CloudUnavailable(CloudError):
    """The service was unreachable, timed out or stayed busy through every attempt.

    `status` and `api_code` describe the last answer when there was one (a
    502/503/504 or a 429), `retry_after` what the service last asked for.
    """

    code = "cloud_unavailable"

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        status: int | None = None,
        api_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            hint="check the service URL, the network path (proxy, firewall, DNS) and the "
            "service's health; the call can be repeated later",
        )
        self.attempts = attempts
        self.status = status
        self.api_code = api_code
        self.retry_after = retry_after


class CloudTlsError(CloudError):
    """The service's certificate is not trusted (not retried: every attempt would fail alike)."""

    code = "cloud_tls"

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            hint="check that the client trusts the service's root CA and that the URL's host "
            "name is one the service certificate names",
        )


class CloudProtocolError(CloudError):
    """The service answered success with a body that does not match the contract."""

    code = "cloud_protocol"


class CloudApiError(CloudError):
    """The service answered with an error; `code` is its stable code (or `http_<status>`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        operation: str | None = None,
        url: str | None = None,
        target: str | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        where = f"{operation} ({url})" if operation and url else operation or url or "the call"
        super().__init__(f"{where} failed with HTTP {status} {code}: {message}", hint=_hint(code))
        self.status = status
        self.code = code
        self.server_message = message
        self.target = target
        self.details = details


class CloudAuthError(CloudApiError):
    """The service refused the credentials (401) or the caller's rights (403)."""


def api_error(
    status: int,
    body: bytes,
    *,
    reason: str | None,
    content_type: str,
    operation: str,
    url: str,
) -> CloudApiError:
    """The error for an HTTP error answer: the service's code and message from its JSON body.

    A body that is not the service's error shape (an HTML page of a proxy, say)
    is not echoed: it gets the code `http_<status>` and the status' reason.
    """
    kind = CloudAuthError if status in (401, 403) else CloudApiError
    if "json" in content_type:
        try:
            detail = ErrorBody.model_validate_json(body).error
        except ValidationError:
            pass
        else:
            return kind(
                status,
                detail.code,
                detail.message,
                operation=operation,
                url=url,
                target=detail.target,
                details=detail.details,
            )
    shape = f"a {content_type or 'untyped'} body of {len(body)} bytes"
    message = f"{reason or 'error'} ({shape}, not the service's JSON error)"
    return kind(status, f"http_{status}", message, operation=operation, url=url)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or HTTP-date), or None.

    A date in the past means no wait (0); a value that is neither form is ignored.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _hint(code: str) -> str | None:
    if code in _CERTIFICATE_CODES:
        return "the connector's certificate is missing, unknown or revoked: enroll it again"
    if code in _TOKEN_CODES:
        return "create a new API token in the admin center and use that"
    if code == "attach_code_invalid":
        return "attach codes are single use and expire: create a new one in the admin center"
    return None
