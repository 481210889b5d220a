"""Domain errors, and the one place they (and everything else) become the OpenAI error envelope.

`{"error": {"message", "type", "param", "code"}}`. A 4xx is deterministic, so it carries
`x-should-retry: false`: the SDK would otherwise re-send a POST that got a 409/5xx and duplicate rows.
"""

from __future__ import annotations

import logging
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


class DatabaseUnavailable(ServiceUnavailable):
    """503 that a retry may cure (the database was unreachable or too slow); nothing was written."""

    retry_after = 1


def not_found(kind: str, object_id: str) -> NotFound:
    return NotFound(f"No {kind} found with id '{object_id}'.", code=None)


def envelope(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _response(status: int, body: dict[str, Any],
              extra_headers: dict[str, str] | None = None) -> Response[Any]:
    headers = {"x-should-retry": "false"} if status < 500 else {}
    return Response(content=body, status_code=status, media_type=MediaType.JSON,
                    headers={**(extra_headers or {}), **headers})


def _api_error(_: Request[Any, Any, Any], exc: APIError) -> Response[Any]:
    retry_after = getattr(exc, "retry_after", None)
    headers = None if retry_after is None else {"x-should-retry": "true", "retry-after": str(retry_after)}
    return _response(exc.status_code, envelope(exc.message, exc.type, exc.param, exc.code), headers)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    param, message = _describe_validation(exc)
    return _response(400, envelope(message, "invalid_request_error", param, None))


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


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status in (404, 405) and exc.detail in ("Not Found", "Method Not Allowed"):
        # litestar's router found no route (or no method on it): say which, as OpenAI does.
        # exc.headers carries `Allow` on a 405 (RFC 9110 requires it).
        return _response(status, envelope(f"Invalid URL ({request.method} {request.url.path})",
                                          "invalid_request_error"), exc.headers)
    if status == 404:
        return _response(404, envelope(str(exc.detail) or "Not found.", "invalid_request_error"))
    if status == 413:
        return _response(413, envelope("Request body is too large.", "invalid_request_error",
                                       None, "request_too_large"))
    if status == 405:
        return _response(405, envelope(str(exc.detail), "invalid_request_error"))
    type_ = "invalid_request_error" if status < 500 else "server_error"
    return _response(status, envelope(str(exc.detail), type_))


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", exc_info=exc)
    return _response(500, envelope("The server had an error while processing your request.",
                                   "server_error", None, "server_error"))


def exception_handlers() -> dict[type[Exception] | int, Any]:
    return {
        APIError: _api_error,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
