"""API errors: one exception type carrying a stable code, and its JSON rendering."""

from __future__ import annotations

from aiohttp import web

from cloud.contract.errors import ERROR_CODES, ErrorBody, ErrorDetail


class ApiError(Exception):
    """An error answered to the caller: HTTP status from the stable code."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code if code in ERROR_CODES else "bad_request"
        self.status = ERROR_CODES[self.code]
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or {}


def error_response(error: ApiError) -> web.Response:
    """The JSON body and status of an error."""
    body = ErrorBody(
        error=ErrorDetail(
            code=error.code, message=error.message, target=error.target, details=error.details
        )
    )
    return web.json_response(
        body.model_dump(mode="json", exclude_none=True), status=error.status, headers=error.headers
    )
