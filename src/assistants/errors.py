"""Domain errors, and the one place they (and everything else) become an error envelope.

The OpenAI envelope `{"error": {"message", "type", "param", "code"}}` on every route but Anthropic's
Messages API, whose handlers install the same handlers with `anthropic_envelope`
(`{"type": "error", "error": {"type", "message"}}`). A 4xx is deterministic, so it carries
`x-should-retry: false`: the SDK would otherwise re-send a POST that got a 409/5xx and duplicate rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

log = logging.getLogger("assistants.errors")


class APIError(Exception):
    status_code = 400
    type = "invalid_request_error"
    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code


class InvalidRequest(APIError):
    """400: a malformed or out-of-range field, or a state conflict (OpenAI answers 400, not 409)."""


class NotFound(APIError):
    status_code = 404


class Unauthorized(APIError):
    status_code = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class PayloadTooLarge(APIError):
    status_code = 413
    default_code = "request_too_large"


class ServerError(APIError):
    status_code = 500
    type = "server_error"
    default_code = "server_error"


class ServiceUnavailable(APIError):
    status_code = 503
    type = "server_error"
    default_code = "service_unavailable"


def not_found(kind: str, object_id: str) -> NotFound:
    return NotFound(f"No {kind} found with id '{object_id}'.", code=None)


def envelope(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


Envelope = Callable[[int, str, str, str | None, str | None], dict[str, Any]]
"""(status, message, OpenAI error type, param, code) -> the response body."""


def openai_envelope(_: int, message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    return envelope(message, type_, param, code)


ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                         404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                         503: "overloaded_error"}
"""Anthropic's error type per status (https://docs.anthropic.com/en/api/errors); other 5xx: api_error."""


def anthropic_error_type(status: int) -> str:
    if status in ANTHROPIC_ERROR_TYPES:
        return ANTHROPIC_ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_envelope(status: int, message: str, _type: str, param: str | None,
                       _code: str | None) -> dict[str, Any]:
    # No `param` field in this envelope: the message names the field, as Anthropic's do ("max_tokens: ...").
    if param and param not in message:
        message = f"{param}: {message}"
    return {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}


def _response(status: int, body: dict[str, Any],
              extra_headers: dict[str, str] | None = None) -> Response[Any]:
    headers = {"x-should-retry": "false"} if status < 500 else {}
    return Response(content=body, status_code=status, media_type=MediaType.JSON,
                    headers={**(extra_headers or {}), **headers})


def _describe_validation(exc: ValidationException) -> tuple[str | None, str]:
    """litestar puts msgspec's message in `extra`; surface the field path as `param`."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            key = item.get("key")
            detail = str(item.get("message") or exc.detail)
            param = _param_from_message(detail) or (key if key and key != "body" else None)
            return param, detail
    return None, str(exc.detail)


def _param_from_message(message: str) -> str | None:
    # msgspec: "Expected `int`, got `str` - at `$.limit`" / "Object missing required field `model`"
    if "at `$." in message:
        return message.rsplit("at `$.", 1)[1].rstrip("`").split("`")[0]
    if "required field `" in message:
        return message.split("required field `", 1)[1].split("`", 1)[0]
    return None


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> tuple[int, str, str, str | None,
                                                                               dict[str, str] | None]:
    """(status, message, type, code, extra headers) of a litestar HTTPException."""
    status = exc.status_code
    if status in (404, 405) and exc.detail in ("Not Found", "Method Not Allowed"):
        # litestar's router found no route (or no method on it): say which, as OpenAI does.
        # exc.headers carries `Allow` on a 405 (RFC 9110 requires it).
        return status, f"Invalid URL ({request.method} {request.url.path})", "invalid_request_error", None, \
            exc.headers
    if status == 404:
        return 404, str(exc.detail) or "Not found.", "invalid_request_error", None, None
    if status == 413:
        return 413, "Request body is too large.", "invalid_request_error", "request_too_large", None
    type_ = "invalid_request_error" if status < 500 else "server_error"
    return status, str(exc.detail), type_, None, None


def exception_handlers(render: Envelope = openai_envelope) -> dict[type[Exception] | int, Any]:
    """The handlers that turn every exception into `render`'s envelope."""

    def api_error(_: Request[Any, Any, Any], exc: APIError) -> Response[Any]:
        return _response(exc.status_code, render(exc.status_code, exc.message, exc.type, exc.param, exc.code))

    def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
        param, message = _describe_validation(exc)
        return _response(400, render(400, message, "invalid_request_error", param, None))

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        status, message, type_, code, headers = _http_error(request, exc)
        return _response(status, render(status, message, type_, None, code), headers)

    def unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        log.exception("unhandled error", exc_info=exc)
        return _response(500, render(500, "The server had an error while processing your request.",
                                     "server_error", None, "server_error"))

    return {
        APIError: api_error,
        ValidationException: validation_error,
        HTTPException: http_error,
        Exception: unexpected,
    }
