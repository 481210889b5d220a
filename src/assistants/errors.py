"""Domain errors, and the one place they (and everything else) become the OpenAI error envelope.

`{"error": {"message", "type", "param", "code"}}`. A 4xx is deterministic, so it carries
`x-should-retry: false`: the SDK would otherwise re-send a POST that got a 409/5xx and duplicate rows.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

log = logging.getLogger("assistants.errors")


class StartupError(Exception):
    """A start-up failure the operator can fix (bad flag, missing model, port in use); its message is
    the whole story. `assistants` prints it as one line and exits non-zero."""


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


class ClientDisconnected(Exception):
    """Nobody will read this response (nginx's 499): raised only to end a handler, never an API error."""


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


# -- msgspec's validation messages, in the API's terms ------------------------------------------

_PATH = re.compile(r"`\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")


def param_from_validation(message: str) -> str | None:
    """The field a msgspec ValidationError names, as an API `param`:
    "... - at `$.metadata[...]`" -> `metadata`; "... - at `key` in `$.metadata`" -> `metadata`;
    "Object missing required field `name` - at `$.tools[0].function`" -> `tools[0].function.name`."""
    paths = _PATH.findall(message)
    path = paths[-1].removesuffix("[...]") if paths else ""
    missing = _MISSING.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or None


def invalid_request_from_validation(message: str, *, within: str | None = None) -> InvalidRequest:
    """A msgspec ValidationError message as a 400; `within` prefixes the path when the value that
    failed was one field of the request (`tools` + `[0].function` -> `tools[0].function`)."""
    detail = message.partition(" - at ")[0]
    param = param_from_validation(message)
    if within is not None:
        param = within + (param if param and param.startswith("[") else f".{param}" if param else "")
    if _MISSING.search(message):
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    detail = detail[:1].lower() + detail[1:]
    if "`key`" in message:
        detail += " (an object key)"
    text = f"Invalid '{param}': {detail}." if param else f"Invalid request body: {detail}."
    return InvalidRequest(text, param=param)


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
