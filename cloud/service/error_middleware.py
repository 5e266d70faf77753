"""The JSON error boundary of both listeners: every failure answers `{"error": {...}}`.

Project errors keep their stable code and status; aiohttp's own refusals (no
such route, method not allowed, body too large) get the code of their status;
anything else is logged and answered as `internal_error`. Every request is
counted in the metrics by route, method and status. A response a handler
returns (the admin center renders its own HTML errors) and a raised redirect
pass through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from cloud.service.api import ROUTE_KEY, STATE_KEY
from cloud.service.errors import ApiError, error_response

log = logging.getLogger("cobridge.cloud")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Run `handler`; answer any failure as a JSON error and count the request."""
    state = request.app[STATE_KEY]
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        return error_response(exc)
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "bad_request")
        message = {
            404: "no such endpoint",
            405: f"{request.method} is not allowed here",
            413: f"the body is larger than the limit of {state.settings.max_body_mb} MiB",
        }.get(exc.status, exc.reason)
        kept = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(ApiError(code, message, headers=kept))
    except (
        aiohttp.http_exceptions.HttpProcessingError,
        aiohttp.client_exceptions.ClientPayloadError,
    ) as exc:
        status = 400
        return error_response(
            ApiError("invalid_body", f"the request body could not be read: {exc}")
        )
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(
            ApiError("internal_error", "an internal error occurred; it has been logged")
        )
    finally:
        route = request.get(ROUTE_KEY, "unmatched")
        state.metrics.requests.labels(route, request.method, str(status)).inc()
