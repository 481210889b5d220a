"""The one place every exception becomes an HTTP response: in the OpenAI error envelope, or, on
Anthropic's Messages routes (which install `exception_handlers(anthropic_body)`), in Anthropic's.

A 4xx is deterministic, so it carries `x-should-retry: false`: the SDK would otherwise re-send a POST
that got a 409/5xx and duplicate rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from assistants.errors import (
    APIError,
    ClientDisconnected,
    anthropic_envelope,
    envelope,
    param_from_validation,
)

log = logging.getLogger("assistants.errors")



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
            param = param_from_validation(detail) or (key if key and key != "body" else None)
            return param, detail
    return None, str(exc.detail)


Body = Callable[[int, str, str, str | None, str | None], dict[str, Any]]
"""(status, message, OpenAI error type, param, code) -> the response body."""


def openai_body(_: int, message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    return envelope(message, type_, param, code)


def anthropic_body(status: int, message: str, _type: str, param: str | None,
                   _code: str | None) -> dict[str, Any]:
    return anthropic_envelope(status, message, param)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> tuple[int, str, str, str | None,
                                                                               dict[str, str] | None]:
    """(status, message, type, code, extra headers) of a litestar HTTPException."""
    status = exc.status_code
    if status in (404, 405) and exc.detail in ("Not Found", "Method Not Allowed"):
        # litestar's router found no route (or no method on it): say which, as OpenAI does.
        # exc.headers carries `Allow` on a 405 (RFC 9110 requires it).
        message = f"Invalid URL ({request.method} {request.url.path})"
        return status, message, "invalid_request_error", None, exc.headers
    if status == 404:
        return 404, str(exc.detail) or "Not found.", "invalid_request_error", None, None
    if status == 413:
        return 413, "Request body is too large.", "invalid_request_error", "request_too_large", None
    type_ = "invalid_request_error" if status < 500 else "server_error"
    return status, str(exc.detail), type_, None, None


def _client_disconnected(_: Request[Any, Any, Any], exc: ClientDisconnected) -> Response[Any]:
    return Response(content=b"", status_code=499)


def exception_handlers(render: Body = openai_body) -> dict[type[Exception] | int, Any]:
    """The handlers that turn every exception into `render`'s envelope."""

    def api_error(_: Request[Any, Any, Any], exc: APIError) -> Response[Any]:
        retry_after = getattr(exc, "retry_after", None)  # a 503 a retry may cure (DatabaseUnavailable)
        headers = None if retry_after is None else {"x-should-retry": "true", "retry-after": str(retry_after)}
        return _response(exc.status_code, render(exc.status_code, exc.message, exc.type, exc.param, exc.code),
                         headers)

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
        ClientDisconnected: _client_disconnected,
        ValidationException: validation_error,
        HTTPException: http_error,
        Exception: unexpected,
    }
