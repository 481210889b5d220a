"""The one place every exception becomes an HTTP response in the OpenAI error envelope.

A 4xx is deterministic, so it carries `x-should-retry: false`: the SDK would otherwise re-send a POST
that got a 409/5xx and duplicate rows.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from assistants.errors import APIError, ClientDisconnected, envelope, param_from_validation

log = logging.getLogger("assistants.errors")



def _response(status: int, body: dict[str, Any],
              extra_headers: dict[str, str] | None = None) -> Response[Any]:
    headers = {"x-should-retry": "false"} if status < 500 else {}
    return Response(content=body, status_code=status, media_type=MediaType.JSON,
                    headers={**(extra_headers or {}), **headers})


def _api_error(_: Request[Any, Any, Any], exc: APIError) -> Response[Any]:
    return _response(exc.status_code, envelope(exc.message, exc.type, exc.param, exc.code))


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
            param = param_from_validation(detail) or (key if key and key != "body" else None)
            return param, detail
    return None, str(exc.detail)


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


def _client_disconnected(_: Request[Any, Any, Any], exc: ClientDisconnected) -> Response[Any]:
    return Response(content=b"", status_code=499)


def exception_handlers() -> dict[type[Exception] | int, Any]:
    return {
        APIError: _api_error,
        ClientDisconnected: _client_disconnected,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
